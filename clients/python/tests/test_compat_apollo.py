"""The Apollo drop-in, against a daemon of its own: default policies, Apollo's call
sequence (allocate_budget → record_usage … → get_allocation → update_allocation), hard
limits and the priority-10 bypass, per-session windows, summaries, policy CRUD, callbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tekton_budget import BudgetClient
from tekton_budget.compat import ApolloTokenBudget
from tekton_budget.compat.apollo import (
    BudgetAllocation,
    BudgetPeriod,
    BudgetPolicy,
    BudgetPolicyType,
    BudgetTier,
    TaskPriority,
    TokenBudgetManager,
)

from .conftest import Daemon


@pytest.fixture(scope="module")
def client(own_daemon: Daemon) -> Iterator[BudgetClient]:
    with own_daemon.client() as c:
        yield c


def _manager(client: BudgetClient, name: str, **kw: Any) -> ApolloTokenBudget:
    """A manager on a budget of its own, scoped to one component so tests do not mix."""
    return ApolloTokenBudget(client=client, budget=name, scope={"component": name}, **kw)


def test_default_policies(client: BudgetClient, name: str) -> None:
    mgr = TokenBudgetManager(client=client, budget=name, scope={"component": name})
    policies = list(mgr.policies.values())
    assert len(policies) == 9
    got = {(p.tier, p.period): p for p in policies}
    for tier, limits in ApolloTokenBudget.DEFAULT_LIMITS.items():
        for period, limit in limits.items():
            p = got[(tier, period)]
            assert p.limit == limit and p.type is BudgetPolicyType.WARN
            assert p.warning_threshold == 0.8 and p.action_threshold == 0.95
    # the daemon holds them: token limits with a tier filter
    daemon_policies = client.list_policies(name)
    assert all(dp.token_limit and dp.tier and dp.cost_limit is None for dp in daemon_policies)
    # a second start does not add them again
    _manager(client, name)
    assert len(client.list_policies(name)) == 9


@pytest.mark.asyncio
async def test_apollo_call_sequence(client: BudgetClient, name: str) -> None:
    mgr = _manager(client, name, install_defaults=False)
    hard_id = mgr.add_policy(
        BudgetPolicy(
            type=BudgetPolicyType.HARD_LIMIT,
            period=BudgetPeriod.DAILY,
            tier=BudgetTier.REMOTE_HEAVYWEIGHT,
            limit=10_000,
        )
    )
    await mgr.start()

    a1 = await mgr.allocate_budget(
        "ctx-1", name, "coding", provider="anthropic", model="claude-sonnet-4-5"
    )
    assert isinstance(a1, BudgetAllocation)
    assert a1.tokens_allocated == 8000 and a1.tier is BudgetTier.REMOTE_HEAVYWEIGHT
    assert a1.is_active and a1.remaining_tokens == 8000 and not a1.is_expired
    daemon_alloc = client.get_allocation(a1.allocation_id)
    assert daemon_alloc.context_id == "ctx-1" and daemon_alloc.tier == "remote_heavyweight"
    assert daemon_alloc.reserved_tokens == 8000 and daemon_alloc.priority == 5
    # Tokens only: an Apollo allocation takes nothing from a dollar limit (Rhetor's).
    assert daemon_alloc.reserved_cost == Decimal(0)

    # a second context would take the day past 10,000 remote tokens: refused
    assert await mgr.allocate_budget("ctx-2", name, "coding", "anthropic", "claude-sonnet-4-5") is None
    # … unless it is critical (priority 10 bypasses hard limits)
    a3 = await mgr.allocate_budget(
        "ctx-3", name, "coding", "anthropic", "claude-sonnet-4-5", priority=TaskPriority.CRITICAL
    )
    assert a3 is not None and a3.tokens_allocated == 32_000 and a3.priority == 10

    assert mgr.record_usage("ctx-1", 1200, "input", operation_id="op-1") == 1200
    assert mgr.record_usage("ctx-1", 300, "output", operation_id="op-1") == 300
    assert mgr.record_usage("ctx-1", 0) == 0
    assert mgr.record_usage("no-such-context", 10) == 0

    current = mgr.get_allocation("ctx-1")
    assert current is not None
    assert current.tokens_used == 1500 and current.remaining_tokens == 6500
    assert current.usage_percentage == 1500 / 8000

    records = mgr.get_usage_records(context_id="ctx-1")
    assert [(r.tokens_used, r.usage_type) for r in records] == [(1200, "input"), (300, "output")]
    assert records[0].operation_id == "op-1"
    cost = sum((client.get_usage_record(r.record_id).cost or Decimal(0) for r in records),
               Decimal(0))
    assert cost == Decimal(1200) * Decimal("0.000003") + Decimal(300) * Decimal("0.000015")

    summary = mgr.get_budget_summary(BudgetTier.REMOTE_HEAVYWEIGHT, BudgetPeriod.DAILY)
    assert len(summary) == 1
    s = summary[0]
    assert s.limit == 10_000 and s.total_used == 1500 and s.remaining == 8500
    assert s.active_allocations == 2 and not s.is_exceeded
    assert s.total_allocated == 8000 + 32_000  # tokens allocated by the active allocations
    assert mgr.get_budget_summary(BudgetTier.LOCAL_MIDWEIGHT) == []

    deactivated = mgr.update_allocation("ctx-1", is_active=False)
    assert deactivated is not None and deactivated.is_active is False
    assert client.get_allocation(a1.allocation_id).status == "released"
    assert mgr.record_usage("ctx-1", 10) == 0  # inactive: nothing recorded, as in Apollo

    assert mgr.get_policy(hard_id) is not None
    await mgr.stop()


@pytest.mark.asyncio
async def test_used_up_allocation_becomes_inactive(client: BudgetClient, name: str) -> None:
    mgr = _manager(client, name)
    a = await mgr.allocate_budget("ctx", name, "default", "openai", "gpt-4o", token_count=1000)
    assert a is not None and a.tier is BudgetTier.REMOTE_HEAVYWEIGHT
    # Apollo would cap this at 1,000; the daemon records all 1,500 (usage is never dropped)
    assert mgr.record_usage("ctx", 1500) == 1500
    after = mgr.get_allocation("ctx")
    assert after is not None and after.is_active is False and after.tokens_used == 1500
    assert client.get_allocation(a.allocation_id).status == "released"
    assert mgr.record_usage("ctx", 5) == 0


@pytest.mark.asyncio
async def test_per_session_windows(client: BudgetClient, name: str) -> None:
    mgr = _manager(client, name, install_defaults=False)
    mgr.add_policy(
        {
            "type": "hard_limit",
            "period": "per_session",
            "tier": "local_lightweight",
            "limit": 8000,
        }
    )
    a = await mgr.allocate_budget("sess-a", name, provider="local", model="tiny", token_count=6000)
    assert a is not None and a.tier is BudgetTier.LOCAL_LIGHTWEIGHT
    mgr.record_usage("sess-a", 5000)
    # the same session cannot take 4,000 more (5,000 used + 1,000 held + 4,000 > 8,000)
    assert await mgr.allocate_budget("sess-a", name, provider="local", model="tiny",
                                     token_count=4000) is None
    # another session has its own window
    b = await mgr.allocate_budget("sess-b", name, provider="local", model="tiny", token_count=6000)
    assert b is not None
    status = client.budget_status(name, context_id="sess-a").policies[0]
    assert status.window_key == "ctx:sess-a" and status.tokens_settled == 5000


@pytest.mark.asyncio
async def test_tiers_and_update_allocation(
    client: BudgetClient, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    mgr = _manager(client, name)
    assert mgr.get_model_tier("claude-3-haiku") is BudgetTier.LOCAL_MIDWEIGHT
    assert mgr.get_provider_tier("ollama") is BudgetTier.LOCAL_MIDWEIGHT
    assert mgr.get_provider_tier("acme") is BudgetTier.REMOTE_HEAVYWEIGHT
    assert mgr.get_component_tier(name) is None
    mgr.set_component_tier(name, BudgetTier.LOCAL_LIGHTWEIGHT)
    mgr.set_model_tier("My-Model", "local_midweight")
    mgr.set_provider_tier("acme", BudgetTier.LOCAL_LIGHTWEIGHT)
    assert mgr.get_model_tier("my-model") is BudgetTier.LOCAL_MIDWEIGHT
    assert mgr._determine_tier(name, "openai", "gpt-4") is BudgetTier.REMOTE_HEAVYWEIGHT
    assert mgr._determine_tier(name, "openai", "other") is BudgetTier.LOCAL_LIGHTWEIGHT

    a = await mgr.allocate_budget("ctx-t", name, "chat", "ollama", "llama3",
                                  expiration=datetime.now(timezone.utc) + timedelta(hours=1),
                                  metadata={"purpose": "test"})
    assert a is not None and a.tier is BudgetTier.LOCAL_LIGHTWEIGHT  # component tier wins
    assert a.tokens_allocated == 4000 and a.metadata == {"purpose": "test"}
    with caplog.at_level(logging.WARNING, logger="tekton_budget.compat.apollo"):
        more = mgr.update_allocation("ctx-t", additional_tokens=1000,
                                     extend_expiration=timedelta(hours=1))
    assert more is not None and more.tokens_allocated == 5000
    assert caplog.text == "", "extend_expiration is carried out, not ignored"
    active = client.list_allocations(context_id="ctx-t", status="active")
    assert len(active) == 2
    # Apollo's expiration += 1 hour: each daemon allocation's lease now ends ~2 hours out.
    for alloc in active:
        assert alloc.expires_at is not None
        left = alloc.expires_at - datetime.now(timezone.utc)
        assert timedelta(hours=1, minutes=55) < left <= timedelta(hours=2), (alloc.id, left)
    mgr.update_allocation("ctx-t", is_active=False)
    assert client.list_allocations(context_id="ctx-t", status="active") == []
    assert mgr.update_allocation("unknown-ctx", additional_tokens=5) is None


def test_policy_crud(client: BudgetClient, name: str) -> None:
    mgr = _manager(client, name, install_defaults=False)
    policy = BudgetPolicy(
        type=BudgetPolicyType.SOFT_LIMIT,
        period=BudgetPeriod.WEEKLY,
        tier=BudgetTier.LOCAL_MIDWEIGHT,
        component="athena",
        task_type="analysis",
        limit=250_000,
        warning_threshold=0.5,
        action_threshold=0.9,
    )
    pid = mgr.add_policy(policy)
    assert policy.policy_id == pid, "the caller's policy names the stored one"
    stored = mgr.get_policy(pid)
    assert stored is not None
    assert (stored.type, stored.period, stored.tier) == (
        BudgetPolicyType.SOFT_LIMIT, BudgetPeriod.WEEKLY, BudgetTier.LOCAL_MIDWEIGHT
    )
    assert (stored.component, stored.task_type, stored.limit) == ("athena", "analysis", 250_000)
    assert stored.warning_threshold == 0.5 and stored.action_threshold == 0.9
    dp = client.get_policy(pid)
    assert dp.warning_threshold == Decimal("0.5") and dp.enforcement == "soft_limit"

    updated = mgr.update_policy(pid, limit=300_000, type=BudgetPolicyType.HARD_LIMIT,
                                component=None)
    assert updated is not None and updated.limit == 300_000
    assert updated.type is BudgetPolicyType.HARD_LIMIT and updated.component is None
    assert client.get_policy(pid).component is None

    stored.limit = 400_000  # add_policy of a known id updates it (Apollo: "add or update")
    assert mgr.add_policy(stored) == pid
    assert mgr.get_policy(pid).limit == 400_000  # type: ignore[union-attr]

    per_task = mgr.add_policy({"type": "warn", "period": "per_task", "tier": "local_midweight",
                               "limit": 1000})
    assert mgr.get_policy(per_task).period is BudgetPeriod.PER_SESSION  # type: ignore[union-attr]

    assert mgr.delete_policy(pid) is True
    assert mgr.get_policy(pid) is None
    assert mgr.delete_policy(pid) is False
    assert mgr.update_policy(pid, limit=1) is None
    assert mgr.get_policy("not-a-uuid") is None
    assert set(mgr.policies) == {per_task}


@pytest.mark.asyncio
async def test_callbacks(client: BudgetClient, name: str) -> None:
    mgr = _manager(client, name, install_defaults=False)
    mgr.add_policy({"type": "hard_limit", "period": "daily", "tier": "remote_heavyweight",
                    "limit": 3000})
    events: list[tuple[str, Any]] = []

    async def on_created(allocation: BudgetAllocation) -> None:
        events.append(("created-async", allocation.context_id))

    mgr.register_callback("on_allocation_created", lambda a: events.append(("created", a.context_id)))
    mgr.register_callback("on_allocation_created", on_created)
    mgr.register_callback("on_budget_exceeded", lambda p, used: events.append(("exceeded", used)))
    mgr.register_callback("on_allocation_updated", lambda a: events.append(("updated", a.tokens_used)))
    mgr.register_callback("no_such_event", lambda: None)

    assert await mgr.allocate_budget("c1", name, "default", "openai", "gpt-4o") is not None
    assert await mgr.allocate_budget("c2", name, "default", "openai", "gpt-4o") is None
    mgr.record_usage("c1", 100)
    import asyncio

    await asyncio.sleep(0)
    assert ("created", "c1") in events and ("created-async", "c1") in events
    assert ("exceeded", 2000) in events  # 3,000 limit, 2,000 held by c1 → 1,000 remain
    assert ("updated", 100) in events
