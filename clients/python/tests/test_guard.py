"""The guard (context manager) and the decorator, sync and async: records on success,
releases on an exception, releases when nothing was recorded — checked on the daemon."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tekton_budget import (
    AsyncBudgetClient,
    BudgetClient,
    BudgetExceeded,
    current_allocation,
    current_async_allocation,
)

SONNET: dict[str, Any] = {"provider": "anthropic", "model": "claude-sonnet-4-5"}


@pytest.fixture
def budget(admin: BudgetClient, name: str) -> str:
    admin.create_budget(name, component=name, policies=[{"period": "daily", "cost_limit": "5.00"}])
    return name


def _alloc_kwargs(component: str) -> dict[str, Any]:
    return dict(component=component, input_tokens=2000, max_output_tokens=1000, **SONNET)


def test_guard_records_on_success(admin: BudgetClient, budget: str) -> None:
    with admin.guard(**_alloc_kwargs(budget)) as alloc:
        assert alloc.reserved_cost == Decimal("0.021000")
        assert current_allocation() is alloc
        result = alloc.record(input_tokens=1800, output_tokens=640)
        assert result.cost == Decimal("0.015000")
        assert admin.get_allocation(alloc.id).status == "active"
    a = admin.get_allocation(alloc.id)
    assert a.status == "released" and a.used_cost == Decimal("0.015000") and a.used_tokens == 2440
    assert alloc.released is not None and alloc.released.status == "released"
    st = admin.budget_status(budget).policies[0]
    assert st.settled == Decimal("0.015") and st.reserved == 0
    with pytest.raises(LookupError):
        current_allocation()


def test_guard_releases_on_exception(admin: BudgetClient, budget: str) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="provider down"):
        with admin.guard(**_alloc_kwargs(budget)) as alloc:
            seen.append(alloc.id)
            raise RuntimeError("provider down")
    a = admin.get_allocation(seen[0])
    assert a.status == "released" and a.used_cost == 0 and a.used_tokens == 0
    assert admin.budget_status(budget).policies[0].reserved == 0


def test_guard_releases_when_nothing_recorded(admin: BudgetClient, budget: str) -> None:
    with admin.guard(**_alloc_kwargs(budget)) as alloc:
        assert not alloc.recorded
    a = admin.get_allocation(alloc.id)
    assert a.status == "released" and a.used_cost == 0
    st = admin.budget_status(budget).policies[0]
    assert st.reserved == 0 and st.settled == 0


def test_guard_usage_recorded_before_an_exception_is_kept(
    admin: BudgetClient, budget: str
) -> None:
    with pytest.raises(ValueError):
        with admin.guard(**_alloc_kwargs(budget)) as alloc:
            alloc.record(input_tokens=1800, output_tokens=640)
            raise ValueError("post-processing failed")
    a = admin.get_allocation(alloc.id)
    assert a.status == "released" and a.used_cost == Decimal("0.015000")


def test_guard_denied_before_the_block(admin: BudgetClient, budget: str) -> None:
    ran = []
    with pytest.raises(BudgetExceeded) as info:
        with admin.guard(component=budget, amount=Decimal("6"), **SONNET):
            ran.append(True)
    assert not ran and info.value.limit == Decimal("5.00")


def test_decorator_with_usage_extractor_and_current_allocation(
    admin: BudgetClient, budget: str
) -> None:
    @admin.budgeted(
        **_alloc_kwargs(budget),
        usage=lambda resp: {"input_tokens": resp["in"], "output_tokens": resp["out"]},
    )
    def call_llm(prompt: str) -> dict[str, Any]:
        return {"text": prompt.upper(), "in": 1800, "out": 640, "id": current_allocation().id}

    out = call_llm("hi")
    assert out["text"] == "HI"
    a = admin.get_allocation(out["id"])
    assert a.status == "released" and a.used_cost == Decimal("0.015000")

    @admin.budgeted(**_alloc_kwargs(budget))
    def records_itself() -> str:
        g = current_allocation()
        g.record(usage={"prompt_tokens": 1800, "completion_tokens": 640})
        return g.id

    a2 = admin.get_allocation(records_itself())
    assert a2.status == "released" and a2.used_tokens == 2440

    ids: list[str] = []

    @admin.budgeted(**_alloc_kwargs(budget))
    def fails() -> None:
        ids.append(current_allocation().id)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fails()
    a3 = admin.get_allocation(ids[0])
    assert a3.status == "released" and a3.used_cost == 0


@pytest.mark.asyncio
async def test_async_guard(aadmin: AsyncBudgetClient, admin: BudgetClient, budget: str) -> None:
    async with aadmin.guard(**_alloc_kwargs(budget)) as alloc:
        assert current_async_allocation() is alloc
        result = await alloc.record(input_tokens=1800, output_tokens=640)
        assert result.cost == Decimal("0.015000")
        assert (await alloc.refresh()).status == "active"
    a = await aadmin.get_allocation(alloc.id)
    assert a.status == "released" and a.used_cost == Decimal("0.015000")

    ids: list[str] = []
    with pytest.raises(RuntimeError):
        async with aadmin.guard(**_alloc_kwargs(budget)) as failing:
            ids.append(failing.id)
            raise RuntimeError("timeout")
    assert (await aadmin.get_allocation(ids[0])).status == "released"
    assert (await aadmin.get_allocation(ids[0])).used_cost == 0

    async with aadmin.guard(**_alloc_kwargs(budget)) as idle:
        pass
    idle_alloc = await aadmin.get_allocation(idle.id)
    assert idle_alloc.status == "released" and idle_alloc.used_tokens == 0
    assert (await aadmin.budget_status(budget)).policies[0].reserved == 0


@pytest.mark.asyncio
async def test_async_decorator(aadmin: AsyncBudgetClient, budget: str) -> None:
    @aadmin.budgeted(
        **_alloc_kwargs(budget),
        usage=lambda r: {"input_tokens": 1800, "output_tokens": 640} if r else None,
    )
    async def ask(ok: bool) -> str:
        return current_async_allocation().id if ok else ""

    alloc_id = await ask(True)
    a = await aadmin.get_allocation(alloc_id)
    assert a.status == "released" and a.used_cost == Decimal("0.015000")

    seen: list[str] = []

    @aadmin.budgeted(**_alloc_kwargs(budget))
    async def broken() -> None:
        seen.append(current_async_allocation().id)
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        await broken()
    b = await aadmin.get_allocation(seen[0])
    assert b.status == "released" and b.used_cost == 0
