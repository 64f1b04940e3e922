"""The Rhetor drop-in, against a daemon of its own: settings, the call sequence of Rhetor's
ModelRouter (route_with_budget_awareness → LLM call → record_completion), usage reads, and
the routing helpers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tekton_budget import BudgetClient
from tekton_budget.compat import RhetorBudgetManager
from tekton_budget.compat.rhetor import BudgetManager, BudgetPeriod, BudgetPolicy

from .conftest import Daemon


@pytest.fixture(scope="module")
def client(own_daemon: Daemon) -> Iterator[BudgetClient]:
    with own_daemon.client() as c:
        yield c


@pytest.fixture
def manager(client: BudgetClient, name: str) -> RhetorBudgetManager:
    """A manager on a budget of its own, scoped to one component so tests do not mix."""
    return RhetorBudgetManager(client=client, budget=name, scope={"component": name})


def test_settings_map_onto_policies(manager: RhetorBudgetManager, client: BudgetClient) -> None:
    assert manager.get_budget_settings() == {"daily": [], "weekly": [], "monthly": []}
    assert manager.get_budget_limit("daily") == 0.0
    assert manager.get_enforcement_policy("daily") == "warn"  # RHETOR_BUDGET_POLICY default

    assert manager.set_budget_limit(BudgetPeriod.DAILY, 5.0) is True
    assert manager.set_budget_limit("daily", 2.0, "anthropic", BudgetPolicy.ENFORCE)
    assert manager.set_budget_limit("monthly", Decimal("100"), enforcement="enforce")
    assert manager.get_budget_limit("daily") == 5.0
    assert manager.get_budget_limit("daily", "anthropic") == 2.0
    assert manager.get_budget_limit("weekly") == 0.0
    assert manager.get_enforcement_policy("daily", "anthropic") == "enforce"
    assert manager.get_enforcement_policy("monthly") == "enforce"

    policies = {(p.period, p.provider): p for p in client.list_policies(manager.budget)}
    anthropic = policies[("daily", "anthropic")]
    assert anthropic.enforcement == "hard_limit" and anthropic.cost_limit == Decimal("2.0")
    assert policies[("daily", None)].enforcement == "warn"
    assert policies[("daily", None)].cost_limit == Decimal("5.0")  # no float noise

    # changing a limit edits the same policy
    manager.set_budget_limit("daily", 0.1, "all", "warn")
    assert len(client.list_policies(manager.budget)) == 3
    assert client.get_policy(policies[("daily", None)].id).cost_limit == Decimal("0.1")

    assert manager.set_enforcement_policy("daily", "ignore")
    assert manager.get_enforcement_policy("daily") == "ignore"
    assert manager.set_enforcement_policy("weekly", "enforce", "openai")  # limit 0, disabled
    assert manager.get_budget_limit("weekly", "openai") == 0.0
    weekly = [p for p in client.list_policies(manager.budget) if p.period == "weekly"][0]
    assert weekly.enabled is False and weekly.enforcement == "hard_limit"

    settings = manager.get_budget_settings()
    assert set(settings) == {"daily", "weekly", "monthly"}
    daily = {s["provider"]: s for s in settings["daily"]}
    assert daily["all"]["limit_amount"] == 0.1 and daily["all"]["enforcement"] == "ignore"
    assert daily["anthropic"]["enforcement"] == "enforce"
    assert settings["weekly"][0]["limit_amount"] == 0.0
    assert set(daily["all"]) == {"id", "provider", "limit_amount", "enforcement", "start_date"}

    with pytest.raises(ValueError):
        manager.set_budget_limit("yearly", 1.0)


def test_costs_are_the_daemons(manager: RhetorBudgetManager) -> None:
    assert manager.count_tokens("") == 0
    assert manager.count_tokens("hello world") == 2 + 2
    cost = manager.calculate_cost("anthropic", "claude-sonnet-4-5", 1800, 640)
    assert cost["total_cost"] == 0.015 and cost["total_cost_exact"] == Decimal("0.015000")
    assert cost["input_cost"] == 0.0054 and cost["output_cost"] == 0.0096
    assert cost["input_tokens"] == 1800 and cost["priced"] is True
    by_text = manager.calculate_cost("openai", "gpt-4o", "a b c d", "e f")
    assert by_text["input_tokens"] == 4 + 1 and by_text["output_tokens"] == 2 + 0
    est = manager.estimate_cost("anthropic", "claude-sonnet-4-5", "hello world")
    assert est["output_tokens"] == manager.count_tokens("a" * 500)
    unknown = manager.calculate_cost("simulated", "nope", 10, 10)
    assert unknown["priced"] is False and unknown["total_cost"] == 0.0


def test_model_router_sequence(manager: RhetorBudgetManager, client: BudgetClient, name: str) -> None:
    """What Rhetor's ModelRouter.route_request does: route, call the LLM, record_completion."""
    manager.set_budget_limit("monthly", 100, "all", "enforce")
    manager.set_budget_limit("daily", Decimal("0.001"), "anthropic", "enforce")
    prompt = "Refactor this module " * 50

    provider, model, warnings = manager.route_with_budget_awareness(
        input_text=prompt,
        task_type="code",
        default_provider="anthropic",
        default_model="claude-sonnet-4-5",
        component=name,
    )
    # the $0.001 Anthropic limit refuses Sonnet; Rhetor's routing picks the cheapest
    # OpenAI model (code prefers anthropic, openai, ollama; the claude-3 models are unpriced)
    assert (provider, model) == ("openai", "gpt-3.5-turbo")
    assert any("Downgraded from anthropic/claude-sonnet-4-5 to openai/gpt-3.5-turbo" in w
               for w in warnings)
    held = client.list_allocations(status="active")
    mine = [a for a in held if a.component == name]
    assert len(mine) == 1 and mine[0].model == "gpt-3.5-turbo"

    usage = manager.record_completion(
        provider=provider,
        model=model,
        input_text=prompt,
        output_text="def refactored(): ...",
        component=name,
        task_type="code",
        metadata={"context_id": "rhetor:ctx-1", "streaming": False},
    )
    assert set(usage) >= {
        "provider", "model", "component", "task_type", "timestamp", "input_tokens",
        "output_tokens", "input_cost", "output_cost", "total_cost",
    }
    assert usage["input_tokens"] == manager.count_tokens(prompt)
    expected = (Decimal(usage["input_tokens"]) * Decimal("0.0000005")
                + Decimal(usage["output_tokens"]) * Decimal("0.0000015"))
    assert Decimal(str(usage["total_cost"])) == expected
    # the check's reservation was settled by the record and released
    settled = client.get_allocation(mine[0].id)
    assert settled.status == "released" and settled.used_cost == expected

    # a free local model is always allowed
    allowed, info = manager.check_budget("ollama", "llama3", prompt, name, "chat")
    assert allowed and info["reason"] == "Free model"
    manager.record_usage("ollama", "llama3", name, "chat", 100, 50, cost=0.0)


def test_role_based_routing_without_provider_or_model(
    manager: RhetorBudgetManager, client: BudgetClient, name: str
) -> None:
    """Rhetor's tasks.json routes by role: ModelRouter passes provider=None, model=None ("let
    the unified client decide"). Rhetor priced that as a free call; so does the drop-in."""
    manager.set_budget_limit("daily", Decimal("0.001"), "all", "enforce")
    provider, model, warnings = manager.route_with_budget_awareness(
        input_text="hello", task_type="chat", default_provider=None, default_model=None,
        component=name,
    )
    assert (provider, model, warnings) == (None, None, [])
    allowed, info = manager.check_budget(None, None, "hello", name, "chat")
    assert allowed and info["reason"] == "Free model" and info["estimated_cost"] == 0.0
    assert not [a for a in client.list_allocations(status="active") if a.component == name]
    usage = manager.record_completion(None, None, "hello", "hi there", component=name,
                                      task_type="chat")
    assert usage["provider"] is None and usage["total_cost"] == 0.0
    stored = client.get_usage_record(usage["record_id"])
    assert (stored.provider, stored.model, stored.priced) == ("unknown", "unknown", False)


def test_a_check_never_recorded_does_not_catch_a_later_record(
    client: BudgetClient, name: str
) -> None:
    """A streaming or failed call is checked but never recorded. Its hold lapses with its
    lease; a later record settles its own check's hold, never the stale one."""
    manager = RhetorBudgetManager(client=client, budget=name, scope={"component": name},
                                  hold_seconds=1)
    prompt = "Summarise this " * 20
    for _ in range(3):  # streamed: no record follows
        assert manager.check_budget("openai", "gpt-4o-mini", prompt, name, "chat")[0]
    allowed, info = manager.check_budget("openai", "gpt-4o-mini", prompt, name, "chat")
    assert allowed
    result = manager.record_usage("openai", "gpt-4o-mini", name, "chat", 100, 20)
    assert result.record.allocation_id == info["allocation_id"], "the newest check is its own"
    time.sleep(1.2)  # the three streamed holds lapse
    later = manager.record_usage("openai", "gpt-4o-mini", name, "chat", 100, 20)
    assert later.record.allocation_id is None, "a lapsed hold is not settled"


def test_all_limits_are_enforced(manager: RhetorBudgetManager, name: str) -> None:
    """Rhetor ignored its 'all' limits when checking; here they apply."""
    manager.set_budget_limit("daily", Decimal("0.000001"), "all", "warn")
    allowed, info = manager.check_budget("openai", "gpt-4o", "hello " * 20, name, "chat")
    assert allowed is True
    assert any(w.startswith("Daily budget limit of $0.00") for w in info["warnings"])
    assert info["daily_limit"] == 0.000001 and "allocation_id" in info
    for key in ("weekly_usage", "monthly_usage", "weekly_limit", "monthly_limit",
                "estimated_cost", "cost_estimate"):
        assert key in info

    manager.set_budget_limit("daily", Decimal("0.000001"), "all", "enforce")
    allowed, info = manager.check_budget("openai", "gpt-4o", "hello " * 20, name, "chat")
    assert allowed is False
    assert info["reason"] == "Daily budget limit exceeded" and info["policy"] == "enforce"
    assert info["limit"] == 0.000001 and info["allowed"] is False


def test_usage_reads(manager: RhetorBudgetManager, name: str) -> None:
    for model, tin, tout in (("gpt-4o", 1000, 200), ("gpt-4o", 500, 100), ("gpt-4", 100, 10)):
        manager.record_usage("openai", model, name, "chat", tin, tout, cost=0.5,
                             metadata={"request_id": model})
    rows = manager.get_usage("daily")
    assert len(rows) == 3
    assert {r["model"] for r in rows} == {"gpt-4o", "gpt-4"}
    assert rows[0]["metadata"]["rhetor_cost"] == 0.5
    assert manager.get_usage("daily", provider="anthropic") == []
    exact = sum((r["cost_exact"] for r in rows), Decimal(0))
    # gpt-4o $2.50/$10 per M, gpt-4 $30/$60 per M: 0.0045 + 0.00225 + 0.0036
    assert exact == Decimal("0.01035")
    assert manager.get_current_usage_total("daily") == float(exact)
    assert manager.get_current_usage_total("monthly", "openai") == float(exact)
    summary = manager.get_usage_summary("daily", "model")
    assert summary["count"] == 3 and summary["period"] == "daily"
    assert summary["groups"]["gpt-4o"]["count"] == 2
    assert summary["groups"]["gpt-4"]["input_tokens"] == 100
    assert summary["total_tokens"] == 1000 + 200 + 500 + 100 + 100 + 10
    custom = manager.get_usage("custom", start_date=datetime(2026, 1, 1))
    assert len(custom) == 3
    with pytest.raises(ValueError):
        manager.get_usage("custom")


def test_tiers_and_alternatives(manager: RhetorBudgetManager) -> None:
    tiers = manager.get_model_tiers()
    assert {m["model"] for m in tiers["free"]} == {"llama3"}
    assert ("anthropic", "claude-3-opus-20240229") in {
        (m["provider"], m["model"]) for m in tiers["unpriced"]
    }
    assert manager.find_cheaper_alternative("openai", "gpt-4", "chat") == ("openai", "gpt-3.5-turbo")
    assert manager.find_cheaper_alternative("ollama", "llama3") is None


def test_env_defaults(client: BudgetClient, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RHETOR_BUDGET_POLICY", "enforce")
    monkeypatch.setenv("RHETOR_BUDGET_DAILY_LIMIT", "7.5")
    mgr = BudgetManager(client=client, budget=name, scope={"component": name})
    assert mgr.get_budget_limit("daily") == 7.5
    assert mgr.get_enforcement_policy("daily") == "enforce"
    again = BudgetManager(client=client, budget=name, scope={"component": name})
    assert len(again.get_budget_settings()["daily"]) == 1  # not set twice


def test_db_path_is_accepted(client: BudgetClient, name: str, tmp_path: Path) -> None:
    mgr = BudgetManager(str(tmp_path / "rhetor.db"), client=client, budget=name,
                        scope={"component": name})
    assert mgr.db_path == str(tmp_path / "rhetor.db")
    assert not (tmp_path / "rhetor.db").exists()
