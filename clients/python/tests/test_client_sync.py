"""Every method of the synchronous client against the real daemon."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tekton_budget import (
    Alert,
    AllocationGrant,
    Budget,
    BudgetClient,
    BudgetStatus,
    Conflict,
    Estimate,
    InvalidRequest,
    NotFound,
    Policy,
    Price,
    UsageRecord,
    UsageReport,
    UsageResult,
    UsageSummary,
)

SONNET: dict[str, Any] = {"provider": "anthropic", "model": "claude-sonnet-4-5"}


def test_health_and_ready(admin: BudgetClient) -> None:
    assert admin.health()["status"] == "ok"
    assert admin.ready()["status"] == "ready"


def test_budget_and_policy_crud(admin: BudgetClient, name: str) -> None:
    budget = admin.create_budget(
        name,
        description="Rhetor: $5/day on Anthropic, $100/month on everything",
        owner="rhetor",
        component=name,
        policies=[
            {"period": "daily", "cost_limit": Decimal("5.00"), "provider": "anthropic"},
            {"period": "monthly", "cost_limit": 100, "enforcement": "hard_limit"},
        ],
    )
    assert isinstance(budget, Budget)
    assert budget.name == name and budget.scope == {"component": name}
    daily, monthly = budget.policies
    assert daily.cost_limit == Decimal("5.00") and str(daily.cost_limit) == "5.00"
    assert daily.filters == {"provider": "anthropic"}
    assert monthly.cost_limit == Decimal(100) and monthly.enforcement == "hard_limit"
    assert daily.warning_threshold == Decimal("0.8")

    assert name in [b.name for b in admin.list_budgets()]
    assert admin.get_budget(name).id == budget.id
    assert admin.get_budget(budget.id).name == name

    updated = admin.update_budget(name, owner="team-rhetor", description="Rhetor spend")
    assert updated.owner == "team-rhetor" and updated.description == "Rhetor spend"

    weekly = admin.add_policy(
        name, period="weekly", token_limit=2_000_000, enforcement="warn", warning_threshold="0.5"
    )
    assert isinstance(weekly, Policy)
    assert weekly.token_limit == 2_000_000 and weekly.cost_limit is None
    assert weekly.warning_threshold == Decimal("0.5")
    assert [p.period for p in admin.list_policies(name)] == ["daily", "monthly", "weekly"]
    assert admin.get_policy(weekly.id).enforcement == "warn"

    changed = admin.update_policy(weekly.id, enforcement="soft_limit", token_limit=3_000_000)
    assert changed.enforcement == "soft_limit" and changed.token_limit == 3_000_000
    as_cost = admin.update_policy(weekly.id, cost_limit=Decimal("7.5"), clear=["token_limit"])
    assert as_cost.cost_limit == Decimal("7.5") and as_cost.token_limit is None

    admin.delete_policy(weekly.id)
    with pytest.raises(NotFound):
        admin.get_policy(weekly.id)

    admin.delete_budget(name)
    with pytest.raises(NotFound) as info:
        admin.get_budget(name)
    assert info.value.resource == "budget" and info.value.id == name


def test_allocate_record_release_status_exact(admin: BudgetClient, name: str) -> None:
    """The README tour: reserve 0.021, record 1800 + 640 tokens → cost 0.015000 exactly."""
    admin.create_budget(
        name, component=name, policies=[{"period": "daily", "cost_limit": "5.00"}]
    )
    grant = admin.allocate(
        component=name,
        context_id="ctx1",
        task_type="chat",
        input_tokens=2000,
        max_output_tokens=1000,
        **SONNET,
    )
    assert isinstance(grant, AllocationGrant)
    assert grant.status == "granted"
    assert grant.reserved_cost == Decimal("0.021000") and grant.reserved_tokens == 3000
    assert grant.budgets[0].budget == name
    assert grant.allocation.status == "active" and grant.allocation.tier == "remote_heavyweight"

    assert admin.get_allocation(grant.id).context_id == "ctx1"
    listed = admin.list_allocations(context_id="ctx1", status="active", limit=1000)
    assert grant.id in [a.id for a in listed]

    result = admin.record_usage(
        allocation_id=grant.id, input_tokens=1800, output_tokens=640, request_id=f"{name}-1"
    )
    assert isinstance(result, UsageResult)
    assert result.cost == Decimal("0.015000")
    assert str(result.cost) == "0.015000"  # the server's scale is kept
    assert result.cost_breakdown is not None
    assert result.cost_breakdown.input == Decimal("0.005400")
    assert result.cost_breakdown.output == Decimal("0.009600")
    assert result.created is True
    assert result.record.total_tokens == 2440 and result.record.component == name

    status = admin.budget_status(name)
    assert isinstance(status, BudgetStatus)
    ps = status.policies[0]
    assert ps.settled == Decimal("0.015") and ps.reserved == Decimal("0.006")
    assert ps.remaining == Decimal("4.979") and ps.limit == Decimal("5.00")
    assert ps.tokens_settled == 2440 and ps.tokens_reserved == 560
    assert status.policy(ps.policy_id) is ps

    again = admin.record_usage(
        allocation_id=grant.id, input_tokens=1800, output_tokens=640, request_id=f"{name}-1"
    )
    assert again.created is False and again.id == result.id

    released = admin.release(grant.id)
    assert released.status == "released"
    assert released.used_cost == Decimal("0.015000") and released.used_tokens == 2440
    assert admin.budget_status(name).policies[0].reserved == Decimal(0)
    past = admin.budget_status(name, at=datetime(2020, 1, 1, 12, tzinfo=timezone.utc))
    assert past.policies[0].settled == 0 and past.policies[0].remaining == Decimal(5)

    rec = admin.get_usage_record(result.id)
    assert isinstance(rec, UsageRecord) and rec.cost == Decimal("0.015000")


def test_extend_allocation(admin: BudgetClient, name: str) -> None:
    """A long call keeps its reservation: a new lease from now; an ended one is a Conflict."""
    grant = admin.allocate(component=name, input_tokens=10, max_output_tokens=10,
                           ttl_seconds=5, **SONNET)
    extended = admin.extend_allocation(grant.id, 3600)
    assert extended.status == "active" and extended.expires_at is not None
    assert extended.expires_at - datetime.now(timezone.utc) > timedelta(minutes=59)
    admin.release(grant.id)
    with pytest.raises(Conflict):
        admin.extend_allocation(grant.id, 60)
    with pytest.raises(InvalidRequest) as bad:
        admin.extend_allocation(admin.allocate(component=name, amount="0.01", **SONNET).id, 0)
    assert bad.value.field == "ttl_seconds"


def test_exact_sums_never_float(admin: BudgetClient, name: str) -> None:
    """Ten records of 0.1 each sum to exactly 1 (floats would give 0.9999999999999999)."""
    admin.set_price("pytest-acme", f"{name}-tenth", input_cost_per_token="0.1",
                    output_cost_per_token=0)
    for _ in range(10):
        admin.record_usage(
            component=name, provider="pytest-acme", model=f"{name}-tenth",
            input_tokens=1, output_tokens=0,
        )
    report = admin.usage_report(component=name)
    assert report.totals.cost == Decimal("1")
    assert sum(0.1 for _ in range(10)) != 1.0  # what float arithmetic would have said
    with pytest.raises(TypeError):
        admin.allocate(component=name, amount=0.1, **SONNET)  # type: ignore[arg-type]


def test_openai_usage_shape(admin: BudgetClient, name: str) -> None:
    result = admin.record_usage(
        component=name,
        provider="openai",
        model="gpt-4o",
        task_type="summarize",
        usage={
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "total_tokens": 1500,
        },
        metadata={"trace": "abc"},
    )
    assert result.cost == Decimal("0.00475000")
    assert result.record.input_tokens == 200 and result.record.cache_read_tokens == 1000
    assert result.record.metadata == {"trace": "abc"}


def test_unpriced_model(admin: BudgetClient, name: str) -> None:
    result = admin.record_usage(
        component=name, provider="acme", model="mystery-1", input_tokens=100, output_tokens=10
    )
    assert result.cost is None and result.priced is False and result.cost_breakdown is None
    alerts = admin.list_alerts(kind="unpriced_model")
    assert any(a.details.get("model") == "mystery-1" for a in alerts)


def test_estimate_and_prices(admin: BudgetClient, name: str) -> None:
    est = admin.estimate(
        input_tokens=1000,
        cache_read_tokens=50000,
        cache_write_tokens=2000,
        output_tokens=800,
        **SONNET,
    )
    assert isinstance(est, Estimate)
    assert est.cost == Decimal("0.03750000") and est.price_ref == "litellm:claude-sonnet-4-5"
    assert est.cost_breakdown is not None and est.cost_breakdown.cache_read == Decimal("0.0150000")
    unknown = admin.estimate(provider="acme", model="nope-1", input_tokens=1, output_tokens=1)
    assert unknown.cost is None and unknown.priced is False

    prices = admin.list_prices(provider="anthropic", search="sonnet-4-5", limit=1)
    assert len(prices) == 1 and isinstance(prices[0], Price)
    price = admin.get_price("anthropic", "claude-sonnet-4-5")
    assert price.input_cost_per_token == Decimal("0.000003")
    assert price.output_cost_per_token == Decimal("0.000015")
    assert admin.get_price("vertex_ai", "claude-sonnet-4-5").thresholds == [200000]
    with pytest.raises(NotFound):
        admin.get_price("acme", "nope-1")

    manual = admin.set_price(
        "acme", f"{name}-m", input_cost_per_million="2.50", output_cost_per_million=10
    )
    assert manual.manual and manual.input_cost_per_token == Decimal("0.0000025")
    assert manual.output_cost_per_token == Decimal("0.00001")


def test_usage_listing_summary_report(admin: BudgetClient, name: str) -> None:
    admin.create_budget(name, component=name, policies=[{"period": "total", "token_limit": 10**9}])
    day = datetime(2026, 11, 2, 10, tzinfo=timezone.utc)
    for i in range(3):
        admin.record_usage(
            component=name,
            task_type="chat" if i else "code",
            timestamp=day + timedelta(hours=i),
            input_tokens=1000,
            output_tokens=100,
            **SONNET,
        )
    page = admin.list_usage_records(component=name, limit=2)
    assert len(page.records) == 2 and page.next_cursor is not None
    rest = admin.list_usage_records(component=name, limit=2, cursor=page.next_cursor)
    assert len(rest.records) == 1 and rest.next_cursor is None
    all_records = list(admin.iter_usage_records(component=name, page_size=1))
    assert len(all_records) == 3
    in_range = admin.list_usage_records(
        component=name, from_=day + timedelta(hours=1), to=day + timedelta(hours=2)
    )
    assert len(in_range.records) == 1
    exported = list(
        admin.export_usage_records(
            from_=day, to=day + timedelta(days=1), budget=name, component=name
        )
    )
    assert len(exported) == 3 and all(r.cost == Decimal("0.004500") for r in exported)

    summary = admin.usage_summary(from_=day, to=day + timedelta(days=1), group_by=["component"])
    assert isinstance(summary, UsageSummary)
    mine = [r for r in summary.rows if r.group.get("component") == name]
    assert mine and mine[0].records == 3 and mine[0].cost == Decimal("0.013500")

    midnight = day.replace(hour=0)
    report = admin.usage_report(
        from_=midnight, to=midnight + timedelta(days=1), component=name, group_by="task_type",
        bucket="day",
    )
    assert isinstance(report, UsageReport)
    assert report.totals.cost == Decimal("0.013500") and report.totals.requests == 3
    assert {r["task_type"] for r in report.rows} == {"chat", "code"}
    assert all(r["bucket"] == "2026-11-02T00:00:00Z" for r in report.rows)
    by_budget = admin.usage_report(from_=day, to=day + timedelta(days=1), budget=name)
    assert by_budget.totals.total_tokens == 3300

    csv = admin.usage_report_text(
        "csv", from_=day, to=day + timedelta(days=1), component=name, group_by="component"
    )
    assert csv.splitlines()[-1].startswith("TOTAL,3,0,0.013500")
    md = admin.usage_report_text("md", from_=day, to=day + timedelta(days=1), component=name)
    assert md.startswith("# Usage report")


def test_alerts_and_acknowledge(admin: BudgetClient, name: str) -> None:
    admin.create_budget(
        name,
        component=name,
        policies=[
            {
                "period": "daily",
                "cost_limit": "0.10",
                "enforcement": "soft_limit",
                "warning_threshold": "0.5",
                "action_threshold": "0.8",
            }
        ],
    )
    for _ in range(4):
        admin.record_usage(component=name, input_tokens=5000, output_tokens=1000, **SONNET)
    alerts = admin.list_alerts(budget=name, acknowledged=False)
    kinds = {a.kind for a in alerts}
    assert {"budget_warning", "budget_action_threshold", "budget_exceeded"} <= kinds
    exceeded = next(a for a in alerts if a.kind == "budget_exceeded")
    assert isinstance(exceeded, Alert) and exceeded.severity == "error"
    assert Decimal(exceeded.details["limit"]) == Decimal("0.10")
    acked = admin.acknowledge_alert(exceeded.id)
    assert acked.acknowledged and acked.acknowledged_at is not None
    assert exceeded.id not in [a.id for a in admin.list_alerts(budget=name, acknowledged=False)]
    since = admin.list_alerts(budget=name, since=datetime.now(timezone.utc) + timedelta(hours=1))
    assert since == []
    assert admin.budget_status(name).state == "exceeded"


def test_keys(admin: BudgetClient, daemon: object, name: str) -> None:
    created = admin.create_key(name, "write")
    assert created.key.startswith("bgt_") and created.info.role == "write"
    assert created.info.id in [k.id for k in admin.list_keys()]
    admin.revoke_key(created.info.id)
    revoked = next(k for k in admin.list_keys() if k.id == created.info.id)
    assert revoked.revoked_at is not None


def test_env_configuration(
    daemon: object, admin: BudgetClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGET_URL", admin.base_url)
    monkeypatch.setenv("BUDGET_API_KEY", admin.api_key or "")
    with BudgetClient() as c:
        assert c.base_url == admin.base_url
        assert c.list_budgets() is not None
    monkeypatch.delenv("BUDGET_URL")
    monkeypatch.delenv("BUDGET_API_KEY")
    bare = BudgetClient()
    assert bare.base_url == "http://127.0.0.1:8013" and bare.api_key is None
    bare.close()


def test_import_usage_keeps_the_source_cost(admin: BudgetClient, name: str) -> None:
    when = datetime(2026, 11, 20, 9, 15, tzinfo=timezone.utc)
    records: list[dict[str, Any]] = [
        {"request_id": f"{name}:1", "component": name, "provider": "openai", "model": "gpt-4o",
         "input_tokens": 1200, "output_tokens": 300, "cost": Decimal("0.02163"), "timestamp": when,
         "metadata": {"ticket": "T-17"}},
        # no output_tokens: refused, named by index; the batch goes on
        {"request_id": f"{name}:2", "component": name, "provider": "openai", "model": "gpt-4o",
         "input_tokens": 10, "cost": "0.0001", "timestamp": when},
    ]
    dry = admin.import_usage(name, records, dry_run=True)
    assert (dry.dry_run, dry.would_create, dry.invalid) == (True, 1, 1)
    first = admin.import_usage(name, records)
    assert (first.created, first.invalid, first.created_cost) == (1, 1, Decimal("0.02163"))
    assert first.results[1].status == "invalid" and first.results[1].field == "records[1].output_tokens"
    stored = admin.get_usage_record(first.results[0].usage_id or "")
    assert stored.cost == Decimal("0.02163") and stored.timestamp == when
    assert stored.price_ref == f"imported:{name}" and stored.metadata["ticket"] == "T-17"
    again = admin.import_usage(name, records[:1])
    assert (again.created, again.already_imported) == (0, 1)
    assert again.results[0].usage_id == first.results[0].usage_id
