"""Rhetor's own database (fixtures/tekton/rhetor_budget.db, written by Rhetor's code: 5
settings, 100 usage rows over 30 days) through the Rhetor drop-in, on a daemon of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tekton_budget import BudgetClient
from tekton_budget.compat import RhetorBudgetManager
from tekton_budget.compat.rhetor import RHETOR_PRICING

from .conftest import FIXTURES, Daemon

RHETOR_DB = FIXTURES / "rhetor_budget.db"


@pytest.fixture(scope="module")
def client(own_daemon: Daemon) -> Iterator[BudgetClient]:
    with own_daemon.client() as c:
        yield c


def test_rhetor_fixture_database(client: BudgetClient) -> None:
    """Rhetor's own database: its settings become policies of the budget 'rhetor' (no
    scope, as in production), its 100 usage rows are imported with their timestamps."""
    conn = sqlite3.connect(f"file:{RHETOR_DB}?mode=ro", uri=True)
    settings = conn.execute(
        "SELECT period, provider, limit_amount, enforcement FROM budget_settings WHERE active=1"
    ).fetchall()
    usage = conn.execute(
        "SELECT id, provider, model, input_tokens, output_tokens, cost FROM usage ORDER BY id"
    ).fetchall()
    conn.close()
    assert len(settings) == 5 and len(usage) == 100

    mgr = RhetorBudgetManager(client=client)  # budget "rhetor", every call counts
    assert mgr.budget == "rhetor"
    installed = mgr.install_missing_prices()
    assert ("anthropic", "claude-3-opus-20240229") in installed
    assert ("simulated", "simulated-standard") in installed
    assert mgr.install_missing_prices() == []

    assert mgr.import_settings_from_db(str(RHETOR_DB)) == 5
    got = mgr.get_budget_settings()
    for period, provider, amount, enforcement in settings:
        match = [s for s in got[period] if s["provider"] == provider]
        assert len(match) == 1, (period, provider)
        assert match[0]["limit_amount"] == amount and match[0]["enforcement"] == enforcement

    assert mgr.import_usage_from_db(str(RHETOR_DB)) == 100
    assert mgr.import_usage_from_db(str(RHETOR_DB)) == 0  # idempotent
    rows = mgr.get_usage("custom", start_date=datetime(2026, 10, 1, tzinfo=timezone.utc))
    imported = {r["metadata"]["rhetor_id"]: r for r in rows if "rhetor_id" in r["metadata"]}
    assert len(imported) == 100
    for rid, provider, model, tin, tout, cost in usage:
        row = imported[rid]
        assert (row["provider"], row["model"]) == (provider, model)
        assert row["priced"] is True
        rates = RHETOR_PRICING[provider][model]
        daemon_price = client.get_price(provider, model)
        # priced exactly, with the daemon's price in force at the record's time
        exact = (Decimal(tin) * (daemon_price.input_cost_per_token or 0)
                 + Decimal(tout) * (daemon_price.output_cost_per_token or 0))
        assert row["cost_exact"] == exact
        if (daemon_price.input_cost_per_token, daemon_price.output_cost_per_token) == (
            rates["input_cost_per_token"], rates["output_cost_per_token"]
        ):
            # same rates as Rhetor: the same cost, without Rhetor's float rounding
            assert float(exact) == pytest.approx(cost, rel=1e-12, abs=1e-15)
    gpt4o = [imported[r[0]] for r in usage if r[2] == "gpt-4o"]
    assert gpt4o and all(
        r["cost_exact"] == Decimal(r["input_tokens"]) * Decimal("0.0000025")
        + Decimal(r["output_tokens"]) * Decimal("0.00001") for r in gpt4o
    )

    # the fixture's limits at work: $2/day on Anthropic is enforced, $5/day overall warns
    allowed, info = mgr.check_budget(
        "anthropic", "claude-3-opus-20240229", "word " * 200_000, "athena", "planning"
    )
    assert allowed is False and info["reason"] == "Daily budget limit exceeded"
    assert info["limit"] == 2.0
    allowed, info = mgr.check_budget("openai", "gpt-3.5-turbo", "hello", "athena", "chat")
    assert allowed is True and info["daily_limit"] == 5.0 and info["monthly_limit"] == 50.0
    mgr.record_usage("openai", "gpt-3.5-turbo", "athena", "chat", 10, 5)
