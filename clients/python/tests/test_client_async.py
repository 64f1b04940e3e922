"""Every method of the asyncio client against the real daemon."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tekton_budget import AsyncBudgetClient, BudgetExceeded, NotFound

SONNET: dict[str, Any] = {"provider": "anthropic", "model": "claude-sonnet-4-5"}


@pytest.mark.asyncio
async def test_async_open_endpoints(aadmin: AsyncBudgetClient) -> None:
    assert (await aadmin.health())["status"] == "ok"
    assert (await aadmin.ready())["status"] == "ready"


@pytest.mark.asyncio
async def test_async_budgets_policies(aadmin: AsyncBudgetClient, name: str) -> None:
    budget = await aadmin.create_budget(
        name, component=name, policies=[{"period": "daily", "cost_limit": Decimal("5.00")}]
    )
    assert budget.policies[0].cost_limit == Decimal("5.00")
    assert name in [b.name for b in await aadmin.list_budgets()]
    assert (await aadmin.get_budget(budget.id)).name == name
    assert (await aadmin.update_budget(name, owner="o")).owner == "o"
    p = await aadmin.add_policy(name, period="per_session", token_limit=8000)
    assert p.period == "per_session" and p.token_limit == 8000
    assert len(await aadmin.list_policies(name)) == 2
    assert (await aadmin.get_policy(p.id)).id == p.id
    assert (await aadmin.update_policy(p.id, enabled=False)).enabled is False
    await aadmin.delete_policy(p.id)
    assert len(await aadmin.list_policies(name)) == 1
    await aadmin.delete_budget(name)
    with pytest.raises(NotFound):
        await aadmin.get_budget(name)


@pytest.mark.asyncio
async def test_async_allocation_cycle(aadmin: AsyncBudgetClient, name: str) -> None:
    await aadmin.create_budget(
        name, component=name, policies=[{"period": "daily", "cost_limit": "5.00"}]
    )
    grant = await aadmin.allocate(
        component=name, context_id=f"{name}-ctx", input_tokens=2000, max_output_tokens=1000,
        **SONNET,
    )
    assert grant.reserved_cost == Decimal("0.021000")
    assert (await aadmin.get_allocation(grant.id)).status == "active"
    assert [a.id for a in await aadmin.list_allocations(context_id=f"{name}-ctx")] == [grant.id]
    result = await aadmin.record_usage(allocation_id=grant.id, input_tokens=1800, output_tokens=640)
    assert result.cost == Decimal("0.015000")
    status = await aadmin.budget_status(name)
    assert status.policies[0].remaining == Decimal("4.979")
    released = await aadmin.release(grant.id)
    assert released.status == "released" and released.used_cost == Decimal("0.015000")
    assert (await aadmin.get_usage_record(result.id)).id == result.id

    with pytest.raises(BudgetExceeded) as info:
        await aadmin.allocate(component=name, amount=Decimal(6), **SONNET)
    assert info.value.limit == Decimal("5.00") and info.value.remaining == Decimal("4.985")
    assert info.value.requested == Decimal(6) and info.value.period == "daily"


@pytest.mark.asyncio
async def test_async_concurrent_allocations_never_overspend(
    aadmin: AsyncBudgetClient, name: str
) -> None:
    """30 concurrent reservations of $0.10 against a $1.00 hard limit: exactly 10 pass."""
    await aadmin.create_budget(name, component=name, policies=[{"period": "total", "cost_limit": 1}])

    async def one() -> bool:
        try:
            await aadmin.allocate(component=name, amount=Decimal("0.10"), **SONNET)
            return True
        except BudgetExceeded:
            return False

    results = await asyncio.gather(*(one() for _ in range(30)))
    assert sum(results) == 10
    st = await aadmin.budget_status(name)
    assert st.policies[0].reserved == Decimal(1) and st.policies[0].remaining == 0


@pytest.mark.asyncio
async def test_async_usage_reads(aadmin: AsyncBudgetClient, name: str) -> None:
    await aadmin.create_budget(name, component=name, policies=[{"period": "total", "token_limit": 10**9}])
    day = datetime(2026, 11, 3, tzinfo=timezone.utc)
    for i in range(3):
        await aadmin.record_usage(
            component=name, timestamp=day + timedelta(hours=i), input_tokens=1000,
            output_tokens=100, **SONNET,
        )
    page = await aadmin.list_usage_records(component=name, limit=2)
    assert len(page.records) == 2 and page.next_cursor
    assert len([r async for r in aadmin.iter_usage_records(component=name, page_size=2)]) == 3
    exported = [r async for r in aadmin.export_usage_records(from_=day, budget=name)]
    assert len(exported) == 3
    summary = await aadmin.usage_summary(from_=day, group_by="component")
    assert any(r.group["component"] == name and r.records == 3 for r in summary.rows)
    report = await aadmin.usage_report(from_=day, to=day + timedelta(days=1), component=name)
    assert report.totals.cost == Decimal("0.013500")
    text = await aadmin.usage_report_text(
        "csv", from_=day, to=day + timedelta(days=1), component=name, group_by="component"
    )
    assert text.splitlines()[-1].startswith("TOTAL,3,")


@pytest.mark.asyncio
async def test_async_prices_alerts_keys(aadmin: AsyncBudgetClient, name: str) -> None:
    est = await aadmin.estimate(input_tokens=1800, output_tokens=640, **SONNET)
    assert est.cost == Decimal("0.015000")
    assert (await aadmin.list_prices(provider="openai", search="gpt-4o-mini", limit=1))
    assert (await aadmin.get_price("openai", "gpt-4o")).input_cost_per_token == Decimal("0.0000025")
    manual = await aadmin.set_price(
        "acme", f"{name}-a", input_cost_per_token="0.000003", output_cost_per_token="0.000012"
    )
    assert manual.manual

    await aadmin.create_budget(
        name, component=name,
        policies=[{"period": "daily", "cost_limit": "0.01", "enforcement": "warn"}],
    )
    await aadmin.record_usage(component=name, input_tokens=5000, output_tokens=1000, **SONNET)
    alerts = await aadmin.list_alerts(budget=name, kind="budget_exceeded")
    assert len(alerts) == 1 and alerts[0].severity == "warning"
    acked = await aadmin.acknowledge_alert(alerts[0].id)
    assert acked.acknowledged

    key = await aadmin.create_key(name, "read")
    assert key.info.role == "read"
    assert key.info.id in [k.id for k in await aadmin.list_keys()]
    await aadmin.revoke_key(key.info.id)


@pytest.mark.asyncio
async def test_async_import_usage(aadmin: AsyncBudgetClient, name: str) -> None:
    record = {"request_id": f"{name}:a", "component": name, "provider": "openai", "model": "gpt-4o",
              "input_tokens": 1, "output_tokens": 1, "cost": "0.5",
              "timestamp": datetime(2026, 11, 20, tzinfo=timezone.utc)}
    first = await aadmin.import_usage(name, [record])
    assert (first.created, first.created_cost) == (1, Decimal("0.5"))
    again = await aadmin.import_usage(name, [record])
    assert (again.created, again.already_imported) == (0, 1)
