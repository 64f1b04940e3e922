"""Apollo's own data (fixtures/tekton/apollo: budget_policies.json with 11 policies,
usage_records_<epoch>.json) through the Apollo drop-in, on a daemon of its own, with the
production mapping (budget ``apollo``, no scope)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tekton_budget import BudgetClient
from tekton_budget.compat.apollo import (
    BudgetPeriod,
    BudgetPolicyType,
    BudgetTier,
    TokenBudgetManager,
)

from .conftest import FIXTURES, Daemon

APOLLO = FIXTURES / "apollo"
POLICIES = APOLLO / "budget_policies.json"
USAGE = sorted(APOLLO.glob("usage_records_*.json"))


@pytest.fixture(scope="module")
def client(own_daemon: Daemon) -> Iterator[BudgetClient]:
    with own_daemon.client() as c:
        yield c


@pytest.mark.asyncio
async def test_apollo_fixture_policies_and_usage(client: BudgetClient) -> None:
    source = json.loads(POLICIES.read_text(encoding="utf-8"))
    assert len(source) == 11 and USAGE

    # Apollo(data_dir=...) on first start: the budget takes the policies of its file
    mgr = TokenBudgetManager(data_dir=str(APOLLO), client=client)
    assert mgr.budget == "apollo"
    assert client.get_budget("apollo").scope == {}
    policies = list(mgr.policies.values())
    assert len(policies) == 11

    def key(p: dict[str, object]) -> tuple[object, ...]:
        return (p["type"], p["period"], p["tier"], p["component"], p["task_type"], p["limit"],
                p["warning_threshold"], p["action_threshold"], p["enabled"])

    got = sorted(
        (
            key(
                {
                    "type": p.type.value,
                    "period": p.period.value,
                    "tier": p.tier.value if p.tier else None,
                    "component": p.component,
                    "task_type": p.task_type,
                    "limit": p.limit,
                    "warning_threshold": p.warning_threshold,
                    "action_threshold": p.action_threshold,
                    "enabled": p.enabled,
                }
            )
            for p in policies
        ),
        key=repr,
    )
    assert got == sorted((key(p) for p in source), key=repr)
    # restarting does not import them twice
    TokenBudgetManager(data_dir=str(APOLLO), client=client)
    assert len(client.list_policies("apollo")) == 11

    # the fixture's hard limits: 10,000 remote tokens a day (one of them for rhetor/coding)
    a1 = await mgr.allocate_budget("ctx1", "rhetor", "coding", model="gpt-4")
    assert a1 is not None and a1.tier is BudgetTier.REMOTE_HEAVYWEIGHT
    assert a1.tokens_allocated == 8000 and a1.provider is None  # Apollo allows no provider
    assert await mgr.allocate_budget("ctx2", "rhetor", "coding", model="gpt-4") is None
    assert await mgr.allocate_budget("ctx2", "athena", "chat", "anthropic", "claude-sonnet-4-5",
                                     token_count=2500) is None  # tier-wide policy too
    critical = await mgr.allocate_budget("ctx2", "rhetor", "coding", model="gpt-4", priority=10)
    assert critical is not None
    # local tiers only have warn policies
    local = await mgr.allocate_budget("ctx4", "metis", "chat", "ollama", "llama3",
                                      token_count=20_000)
    assert local is not None and local.tier is BudgetTier.LOCAL_MIDWEIGHT

    summary = mgr.get_budget_summary(BudgetTier.REMOTE_HEAVYWEIGHT, BudgetPeriod.DAILY)
    assert summary[0].limit == 10_000  # the most specific daily policy, as Apollo picks it
    hourly = mgr.get_budget_summary(period=BudgetPeriod.HOURLY)
    assert {s.tier: s.limit for s in hourly} == {
        BudgetTier.LOCAL_LIGHTWEIGHT: 1_000_000,
        BudgetTier.LOCAL_MIDWEIGHT: 500_000,
        BudgetTier.REMOTE_HEAVYWEIGHT: 100_000,
    }
    session = mgr.get_budget_summary(BudgetTier.LOCAL_MIDWEIGHT, BudgetPeriod.PER_SESSION)
    assert session[0].limit == 16_000 and session[0].total_used == 0

    # the usage file: one record of 16,000 tokens of gpt-4 by rhetor on 2026-11-29
    assert mgr.import_usage_records(str(USAGE[0])) == 1
    assert mgr.import_usage_records(str(USAGE[0])) == 0  # idempotent
    raw = json.loads(USAGE[0].read_text(encoding="utf-8"))[0]
    day = datetime.fromisoformat(raw["timestamp"]).replace(tzinfo=timezone.utc)
    report = client.usage_report(from_=day.replace(hour=0, minute=0, second=0, microsecond=0),
                                 to=day + timedelta(days=1), tier="remote_heavyweight",
                                 component="rhetor")
    assert report.totals.total_tokens == 16_000
    assert report.totals.cost == Decimal(16_000) * Decimal("0.00003")  # gpt-4 input, exactly
    records = [r for r in mgr.get_usage_records(context_id="ctx1") if r.tokens_used == 16_000]
    assert len(records) == 1 and records[0].component == "rhetor" and records[0].model == "gpt-4"
    assert records[0].metadata["apollo_allocation_id"] == raw["allocation_id"]

    # the imported day is past: today's remote window is untouched by it
    assert mgr.get_budget_summary(BudgetTier.REMOTE_HEAVYWEIGHT)[0].total_used == 0
    assert BudgetPolicyType.HARD_LIMIT in {p.type for p in policies}
