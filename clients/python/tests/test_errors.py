"""Error answers become typed exceptions carrying code, message, details and status."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tekton_budget import (
    AsyncBudgetClient,
    BudgetClient,
    BudgetError,
    BudgetExceeded,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    TransportError,
    Unauthorized,
)

from .conftest import Daemon

SONNET: dict[str, Any] = {"provider": "anthropic", "model": "claude-sonnet-4-5"}


def test_402_cost_limit(admin: BudgetClient, name: str) -> None:
    admin.create_budget(name, component=name, policies=[{"period": "daily", "cost_limit": "5.00"}])
    g = admin.allocate(component=name, input_tokens=2000, max_output_tokens=1000, **SONNET)
    admin.record_usage(allocation_id=g.id, input_tokens=1800, output_tokens=640)
    admin.release(g.id)
    with pytest.raises(BudgetExceeded) as info:
        admin.allocate(component=name, amount="6", **SONNET)
    e = info.value
    assert isinstance(e, BudgetError)
    assert e.status == 402 and e.code == "budget_exceeded" and e.reason == "limit"
    assert e.limit == Decimal("5.00") and e.remaining == Decimal("4.985000")
    assert e.requested == Decimal("6") and e.limit_kind == "cost"
    assert e.budget == name and e.period == "daily" and e.policy and e.budget_id
    assert "would exceed" in e.message and e.details["budget"] == name


def test_402_token_limit_and_priority_bypass(admin: BudgetClient, name: str) -> None:
    admin.create_budget(
        name, component=name, policies=[{"period": "per_session", "token_limit": 8000}]
    )
    admin.allocate(
        component=name, context_id="s42", input_tokens=4000, max_output_tokens=2000, **SONNET
    )
    with pytest.raises(BudgetExceeded) as info:
        admin.allocate(
            component=name, context_id="s42", provider="ollama", model="llama3",
            input_tokens=1500, max_output_tokens=1000,
        )
    e = info.value
    assert e.limit_kind == "tokens" and e.period == "per_session"
    assert e.limit == 8000 and e.remaining == 2000 and e.requested == 2500
    bypass = admin.allocate(
        component=name, context_id="s42", provider="ollama", model="llama3",
        input_tokens=1500, max_output_tokens=1000, priority=10,
    )
    assert bypass.status == "granted"
    assert admin.budget_status(name, context_id="s42").policies[0].tokens_reserved == 8500


def test_402_unpriced_model(admin: BudgetClient, name: str) -> None:
    admin.create_budget(name, component=name, policies=[{"period": "daily", "cost_limit": "5"}])
    with pytest.raises(BudgetExceeded) as info:
        admin.allocate(
            component=name, provider="acme", model="mystery-9", input_tokens=1,
            max_output_tokens=1,
        )
    assert info.value.reason == "unpriced_model" and info.value.requested is None
    assert info.value.provider == "acme" and info.value.model == "mystery-9"


def test_400_names_the_field(admin: BudgetClient, name: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        admin.create_budget(name, policies=[{"period": "daily", "cost_limit": "-1"}])
    assert info.value.status == 400 and info.value.code == "invalid_request"
    assert info.value.field is not None and info.value.field.endswith("cost_limit")

    admin.create_budget(name)
    with pytest.raises(InvalidRequest) as info:
        admin.add_policy(name, period="daily", cost_limit=1, enforcement="maybe")
    assert info.value.field == "enforcement"
    with pytest.raises(InvalidRequest) as info:
        admin.allocate(component=name, input_tokens=1, priority=11, **SONNET)
    assert info.value.field == "priority"
    with pytest.raises(InvalidRequest) as info:
        admin.list_alerts(limit=5000)
    assert info.value.field == "limit"
    with pytest.raises(InvalidRequest) as info:
        admin.usage_summary(group_by="colour")
    assert info.value.field == "group_by"


def test_401_and_403(daemon: Daemon, read_key: str, name: str) -> None:
    with BudgetClient(daemon.url, read_key) as reader:
        assert isinstance(reader.list_budgets(), list)  # a read key may read
        assert reader.estimate(provider="openai", model="gpt-4o", input_tokens=1, output_tokens=1)
        with pytest.raises(Forbidden) as info:
            reader.create_budget(name)
        assert info.value.status == 403 and info.value.code == "forbidden"
        assert "needs 'write'" in info.value.message
    with BudgetClient(daemon.url, "bgt_not_a_key") as bad:
        with pytest.raises(Unauthorized) as info401:
            bad.list_budgets()
        assert info401.value.status == 401 and info401.value.code == "unauthorized"
    with BudgetClient(daemon.url, None) as nokey:
        if nokey.api_key is None:
            with pytest.raises(Unauthorized):
                nokey.list_budgets()
        assert nokey.health()["status"] == "ok"  # open endpoint


def test_404_and_409(admin: BudgetClient, name: str) -> None:
    with pytest.raises(NotFound) as info:
        admin.get_budget(name)
    assert info.value.status == 404 and info.value.resource == "budget" and info.value.id == name
    with pytest.raises(NotFound):
        admin.get_allocation("01a22550-20cd-7353-be37-000000000000")
    with pytest.raises(NotFound):
        admin.acknowledge_alert("01a22550-20cd-7353-be37-000000000000")
    admin.create_budget(name)
    with pytest.raises(Conflict) as conflict:
        admin.create_budget(name)
    assert conflict.value.status == 409 and conflict.value.code == "conflict"


def test_transport_error() -> None:
    with BudgetClient("http://127.0.0.1:9", "k", timeout=2) as c:
        with pytest.raises(TransportError) as info:
            c.list_budgets()
    assert info.value.status is None


@pytest.mark.asyncio
async def test_async_error_mapping(daemon: Daemon, read_key: str, name: str) -> None:
    async with AsyncBudgetClient(daemon.url, read_key) as reader:
        with pytest.raises(Forbidden):
            await reader.create_budget(name)
    async with AsyncBudgetClient(daemon.url, daemon.admin_key) as c:
        with pytest.raises(NotFound):
            await c.get_budget(name)
        with pytest.raises(InvalidRequest) as info:
            await c.allocate(component=name, input_tokens=1, ttl_seconds=0, **SONNET)
        assert info.value.field == "ttl_seconds"
        await c.create_budget(name, component=name, policies=[{"period": "daily", "cost_limit": 1}])
        with pytest.raises(BudgetExceeded) as denied:
            await c.allocate(component=name, amount=2, **SONNET)
        assert denied.value.limit == 1 and denied.value.remaining == 1
    async with AsyncBudgetClient("http://127.0.0.1:9", "k", timeout=2) as dead:
        with pytest.raises(TransportError):
            await dead.health()
