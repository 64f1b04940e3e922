"""Rhetor's ``BudgetManager``, backed by the daemon.

Rhetor switches with one import::

    # from rhetor.core.budget_manager import BudgetManager, BudgetPolicy, BudgetPeriod
    from tekton_budget.compat.rhetor import BudgetManager, BudgetPolicy, BudgetPeriod

Rhetor's settings (a dollar limit per period × provider or ``all``, enforcement
``ignore | warn | enforce``) become the policies of one budget (``rhetor`` by default):
one policy per setting, ``period`` daily/weekly/monthly, ``cost_limit`` the limit, a
``provider`` filter unless the setting is for ``all``, enforcement ``enforce`` →
``hard_limit``, ``warn`` → ``warn``, ``ignore`` → ``ignore``. A limit of 0 ("no limit" for
Rhetor) is a disabled policy. Usage goes to the daemon, which prices it itself.

The method names, arguments and return shapes are Rhetor's; where the behaviour differs,
the README of this package says so (section "Rhetor drop-in").
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from ..client import BudgetClient
from ..errors import BudgetError, BudgetExceeded, NotFound
from ..models import Policy, UsageResult
from ._common import (
    PriceCache,
    aware,
    ensure_budget,
    period_window,
    scoped_report,
    to_decimal,
    to_float,
    zone,
)

__all__ = [
    "BudgetPolicy",
    "BudgetPeriod",
    "RhetorBudgetManager",
    "BudgetManager",
    "RHETOR_PRICING",
]

log = logging.getLogger("tekton_budget.compat.rhetor")


class BudgetPolicy(str, Enum):
    """Rhetor's enforcement words."""

    IGNORE = "ignore"
    WARN = "warn"
    ENFORCE = "enforce"


class BudgetPeriod(str, Enum):
    """Rhetor's periods."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


#: Rhetor enforcement → daemon enforcement.
TO_DAEMON = {"ignore": "ignore", "warn": "warn", "enforce": "hard_limit"}
#: Daemon enforcement → Rhetor enforcement (``soft_limit`` reads as ``warn``).
FROM_DAEMON = {
    "hard_limit": "enforce",
    "hard": "enforce",
    "enforce": "enforce",
    "soft_limit": "warn",
    "soft": "warn",
    "warn": "warn",
    "ignore": "ignore",
}

#: Rhetor's own price table (USD per token), as its ``BudgetManager`` ships it. It is used
#: only as the list of candidate models for routing and, through
#: :meth:`RhetorBudgetManager.install_missing_prices`, to give the daemon manual prices for
#: the models its built-in table lacks. Costs are always the daemon's.
RHETOR_PRICING: dict[str, dict[str, dict[str, Decimal]]] = {
    "anthropic": {
        "claude-3-opus-20240229": {
            "input_cost_per_token": Decimal("0.000015"),
            "output_cost_per_token": Decimal("0.000075"),
        },
        "claude-3-sonnet-20240229": {
            "input_cost_per_token": Decimal("0.000003"),
            "output_cost_per_token": Decimal("0.000015"),
        },
        "claude-3-haiku-20240307": {
            "input_cost_per_token": Decimal("0.00000025"),
            "output_cost_per_token": Decimal("0.00000125"),
        },
        "claude-3-5-sonnet-20240620": {
            "input_cost_per_token": Decimal("0.000003"),
            "output_cost_per_token": Decimal("0.000013"),
        },
    },
    "openai": {
        "gpt-4": {
            "input_cost_per_token": Decimal("0.00003"),
            "output_cost_per_token": Decimal("0.00006"),
        },
        "gpt-4-turbo": {
            "input_cost_per_token": Decimal("0.00001"),
            "output_cost_per_token": Decimal("0.00003"),
        },
        "gpt-4o": {
            "input_cost_per_token": Decimal("0.00001"),
            "output_cost_per_token": Decimal("0.00003"),
        },
        "gpt-3.5-turbo": {
            "input_cost_per_token": Decimal("0.0000005"),
            "output_cost_per_token": Decimal("0.0000015"),
        },
    },
    "ollama": {
        "llama3": {"input_cost_per_token": Decimal("0"), "output_cost_per_token": Decimal("0")},
    },
    "simulated": {
        "simulated-standard": {
            "input_cost_per_token": Decimal("0"),
            "output_cost_per_token": Decimal("0"),
        },
    },
}

_TASK_PREFERENCES: dict[str, list[str]] = {
    "code": ["anthropic", "openai", "ollama"],
    "planning": ["anthropic", "openai", "ollama"],
    "reasoning": ["anthropic", "openai", "ollama"],
    "chat": ["openai", "anthropic", "ollama"],
    "default": ["anthropic", "openai", "ollama"],
}

_PERIODS = ("daily", "weekly", "monthly")
_HoldKey = tuple[str, str, str, str]

#: Open holds kept per key at most. A key whose checks are never followed by a record (a
#: streaming call, a failed call) would otherwise grow without end; the daemon lets each
#: dropped hold expire by itself.
_MAX_HOLDS_PER_KEY = 256

#: What Rhetor's ``pricing.get(None)`` made of a request without provider or model (Rhetor's
#: role-based routing leaves both to the LLM client): a free call.
_NO_MODEL = "unknown"


def _period(value: BudgetPeriod | str) -> str:
    return BudgetPeriod(value).value


def _enforcement(value: BudgetPolicy | str) -> str:
    return BudgetPolicy(value).value


class RhetorBudgetManager:
    """Rhetor's ``BudgetManager`` API on top of the Tekton Budget daemon.

    ``db_path`` is accepted for compatibility and ignored (the daemon stores everything);
    import an existing Rhetor database with :meth:`import_settings_from_db` and
    :meth:`import_usage_from_db`. ``client`` (or ``base_url``/``api_key``, or
    ``$BUDGET_URL``/``$BUDGET_API_KEY``) reaches the daemon; ``budget`` names the budget that
    holds Rhetor's limits; ``scope`` restricts which calls count against it (default: every
    call the daemon sees, since Rhetor is the gateway of every component's LLM calls).
    ``hold_seconds`` is how long a :meth:`check_budget` reservation waits for its usage.
    ``timezone`` is the zone of the daily/weekly/monthly windows used for usage queries
    (keep it equal to the daemon's ``engine.timezone``, UTC by default).
    """

    def __init__(
        self,
        db_path: str | None = None,
        *,
        client: BudgetClient | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        budget: str = "rhetor",
        scope: Mapping[str, str] | None = None,
        default_policy: BudgetPolicy | str | None = None,
        hold_seconds: int = 300,
        timezone: str = "UTC",
        candidate_models: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.db_path = db_path
        self.client = client or BudgetClient(base_url, api_key)
        self.budget = budget
        self.scope: dict[str, str] = dict(scope or {})
        self.hold_seconds = hold_seconds
        self.tz = zone(timezone)
        policy = default_policy or os.environ.get("RHETOR_BUDGET_POLICY") or BudgetPolicy.WARN
        self.default_policy = _enforcement(policy)
        self.candidate_models: list[tuple[str, str]] = list(
            candidate_models
            or [(p, m) for p, models in RHETOR_PRICING.items() for m in models]
        )
        self._prices = PriceCache(self.client)
        # Per key: (allocation id, monotonic deadline), oldest first.
        self._holds: dict[_HoldKey, deque[tuple[str, float]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.budget_id = ensure_budget(
            self.client,
            budget,
            description="Rhetor's LLM spend limits (tekton_budget.compat.rhetor)",
            owner="rhetor",
            scope=self.scope,
        )[0].id
        for period in _PERIODS:
            raw = os.environ.get(f"RHETOR_BUDGET_{period.upper()}_LIMIT", "0")
            try:
                amount = Decimal(raw)
            except ArithmeticError:
                log.warning("ignoring RHETOR_BUDGET_%s_LIMIT=%r", period.upper(), raw)
                continue
            if amount > 0 and self._find(period, "all") is None:
                self.set_budget_limit(period, amount, "all", self.default_policy)

    # ------------------------------------------------------------------ settings ↔ policies

    def _policies(self) -> list[Policy]:
        return self.client.list_policies(self.budget_id)

    @staticmethod
    def _is_setting(policy: Policy) -> bool:
        extra = {k for k in policy.filters if k != "provider"}
        return (
            policy.period in _PERIODS
            and policy.cost_limit is not None
            and policy.cron is None
            and not extra
        )

    def _settings(self) -> list[Policy]:
        return [p for p in self._policies() if self._is_setting(p)]

    @staticmethod
    def _provider_of(policy: Policy) -> str:
        return policy.provider if policy.provider is not None else "all"

    def _find(self, period: str, provider: str) -> Policy | None:
        want = provider.lower()
        for p in self._settings():
            if p.period == period and self._provider_of(p).lower() == want:
                return p
        return None

    def get_budget_limit(self, period: BudgetPeriod | str, provider: str = "all") -> float:
        """The limit of a period for a provider (or ``all``); 0.0 when none is set."""
        p = self._find(_period(period), provider)
        return to_float(p.cost_limit) if p is not None and p.enabled else 0.0

    def set_budget_limit(
        self,
        period: BudgetPeriod | str,
        limit_amount: float | int | str | Decimal | None = None,
        provider: str = "all",
        enforcement: BudgetPolicy | str | None = None,
        *,
        limit: float | int | str | Decimal | None = None,
    ) -> bool:
        """Set a period's limit for a provider or ``all`` (one policy of the budget; an
        existing one is changed in place). ``enforcement`` None means the default policy,
        as in Rhetor. A limit of 0 disables the policy (Rhetor: no limit)."""
        per = _period(period)
        raw = limit_amount if limit_amount is not None else limit
        if raw is None:
            raise TypeError("set_budget_limit() needs limit_amount")
        amount = to_decimal(raw)
        if amount < 0:
            raise ValueError("a budget limit cannot be negative")
        enf = TO_DAEMON[_enforcement(enforcement or self.default_policy)]
        existing = self._find(per, provider)
        if existing is not None:
            self.client.update_policy(
                existing.id, cost_limit=amount, enforcement=enf, enabled=amount > 0
            )
        else:
            self.client.add_policy(
                self.budget_id,
                period=per,
                cost_limit=amount,
                enforcement=enf,
                provider=None if provider.lower() == "all" else provider,
                allow_unpriced=True,
                enabled=amount > 0,
            )
        return True

    def get_enforcement_policy(self, period: BudgetPeriod | str, provider: str = "all") -> str:
        """``ignore``, ``warn`` or ``enforce`` for a period and provider (the default policy
        when no setting exists)."""
        p = self._find(_period(period), provider)
        if p is None:
            return self.default_policy
        return FROM_DAEMON.get(p.enforcement, "warn")

    def set_enforcement_policy(
        self,
        period: BudgetPeriod | str,
        policy: BudgetPolicy | str,
        provider: str = "all",
    ) -> bool:
        """Change a setting's enforcement; without a setting, one with limit 0 (disabled)
        is created, as Rhetor does."""
        per = _period(period)
        enf = TO_DAEMON[_enforcement(policy)]
        existing = self._find(per, provider)
        if existing is not None:
            self.client.update_policy(existing.id, enforcement=enf)
        else:
            self.client.add_policy(
                self.budget_id,
                period=per,
                cost_limit=Decimal(0),
                enforcement=enf,
                provider=None if provider.lower() == "all" else provider,
                allow_unpriced=True,
                enabled=False,
            )
        return True

    def get_budget_settings(self) -> dict[str, list[dict[str, Any]]]:
        """Active settings by period: ``{"daily": [{id, provider, limit_amount,
        enforcement, start_date}], "weekly": [...], "monthly": [...]}``. ``id`` is the
        policy's UUID (Rhetor: an integer)."""
        result: dict[str, list[dict[str, Any]]] = {p: [] for p in _PERIODS}
        for p in self._settings():
            result.setdefault(p.period, []).append(
                {
                    "id": p.id,
                    "provider": self._provider_of(p),
                    "limit_amount": to_float(p.cost_limit),
                    "enforcement": FROM_DAEMON.get(p.enforcement, "warn"),
                    "start_date": p.created_at.isoformat() if p.created_at else None,
                }
            )
        return result

    # ------------------------------------------------------------------ tokens and costs

    def count_tokens(self, text: str, model: str | None = "gpt-3.5-turbo") -> int:
        """Rhetor's fallback approximation (words + characters / 4); no tokenizer."""
        if not text:
            return 0
        return len(text.split()) + int(len(text) / 4)

    def calculate_cost(
        self,
        provider: str | None,
        model: str | None,
        input_text: str | int,
        output_text: str | int,
    ) -> dict[str, Any]:
        """Token counts and costs of a request, priced by the daemon. ``input_text`` and
        ``output_text`` may be texts (counted with :meth:`count_tokens`) or token counts.
        Returns Rhetor's keys (floats) plus ``priced`` and ``total_cost_exact`` (Decimal, or
        None when the model has no known price). Without a provider or model (Rhetor's
        role-based routing leaves both to the LLM client) the call is free, as in Rhetor."""
        input_tokens = (
            input_text if isinstance(input_text, int) else self.count_tokens(input_text, model)
        )
        output_tokens = (
            output_text if isinstance(output_text, int) else self.count_tokens(output_text, model)
        )
        if not provider or not model:
            return {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "input_cost": 0.0,
                "output_cost": 0.0,
                "total_cost": 0.0,
                "priced": False,
                "total_cost_exact": Decimal(0),
            }
        est = self.client.estimate(
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        bd = est.cost_breakdown
        input_cost = bd.input + bd.cache_read + bd.cache_write + bd.cache_write_1h if bd else None
        output_cost = bd.output + bd.reasoning if bd else None
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_cost": to_float(input_cost),
            "output_cost": to_float(output_cost),
            "total_cost": to_float(est.cost),
            "priced": est.priced,
            "total_cost_exact": est.cost,
        }

    def estimate_cost(
        self,
        provider: str | None,
        model: str | None,
        input_text: str,
        estimated_output_length: int = 500,
    ) -> dict[str, Any]:
        """Like :meth:`calculate_cost` with an output of ``estimated_output_length``
        characters, as Rhetor estimates."""
        return self.calculate_cost(provider, model, input_text, "a" * estimated_output_length)

    # ------------------------------------------------------------------ recording

    def _hold_key(
        self, provider: str | None, model: str | None, component: str, task_type: str
    ) -> _HoldKey:
        return ((provider or _NO_MODEL).lower(), model or _NO_MODEL, component or "unknown", task_type or "")

    def _put_hold(self, key: _HoldKey, allocation_id: str) -> None:
        with self._lock:
            queue = self._holds[key]
            queue.append((allocation_id, time.monotonic() + self.hold_seconds))
            while len(queue) > _MAX_HOLDS_PER_KEY:
                queue.popleft()

    def _take_hold(self, key: _HoldKey) -> str | None:
        """The newest live hold of the key: most likely the caller's own check. Holds whose
        lease has run out (their check was never followed by a record) are dropped; the
        daemon has already let them go."""
        now = time.monotonic()
        with self._lock:
            queue = self._holds.get(key)
            while queue and queue[0][1] <= now:
                queue.popleft()
            if queue:
                return queue.pop()[0]
        return None

    def record_usage(
        self,
        provider: str | None,
        model: str | None,
        component: str,
        task_type: str,
        input_tokens: int,
        output_tokens: int,
        cost: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> UsageResult:
        """Record a call's usage in the daemon, which prices it (a ``cost`` given here is
        kept in the record's metadata as ``rhetor_cost`` but not used). A reservation made
        by :meth:`check_budget` for the same provider, model, component and task type is
        settled by this record and its remainder released."""
        key = self._hold_key(provider, model, component, task_type)
        hold = self._take_hold(key)
        md: dict[str, Any] = dict(metadata or {})
        if cost is not None:
            md["rhetor_cost"] = cost
        result = self.client.record_usage(
            allocation_id=hold,
            component=component or "unknown",
            # Rhetor stored NULLs for a call routed by role; the daemon needs names.
            provider=provider or _NO_MODEL,
            model=model or _NO_MODEL,
            task_type=task_type or None,
            input_tokens=int(input_tokens),
            output_tokens=int(output_tokens),
            metadata=md,
        )
        if hold is not None:
            try:
                self.client.release(hold)
            except BudgetError as exc:
                log.warning("could not release allocation %s: %s", hold, exc)
        return result

    def record_completion(
        self,
        provider: str | None,
        model: str | None,
        input_text: str,
        output_text: str,
        component: str = "unknown",
        task_type: str = "default",
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Count the tokens of a finished request, record it, and return Rhetor's usage
        dict (costs as the daemon priced them) plus ``record_id`` and ``priced``."""
        input_tokens = self.count_tokens(input_text, model)
        output_tokens = self.count_tokens(output_text, model)
        result = self.record_usage(
            provider=provider,
            model=model,
            component=component,
            task_type=task_type,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            metadata=metadata,
        )
        bd = result.cost_breakdown
        input_cost = bd.input + bd.cache_read + bd.cache_write + bd.cache_write_1h if bd else None
        output_cost = bd.output + bd.reasoning if bd else None
        ts = result.record.timestamp
        return {
            "provider": provider,
            "model": model,
            "component": component,
            "task_type": task_type,
            "timestamp": (ts or datetime.now(timezone.utc)).isoformat(),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_cost": to_float(input_cost),
            "output_cost": to_float(output_cost),
            "total_cost": to_float(result.cost),
            "record_id": result.id,
            "priced": result.priced,
        }

    # ------------------------------------------------------------------ reading usage

    def _range(
        self,
        period: BudgetPeriod | str,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> tuple[datetime, datetime]:
        now = datetime.now(self.tz)
        if period == "custom":
            if start_date is None:
                raise ValueError("Custom period requires start_date parameter")
            end = aware(end_date, self.tz) if end_date else now + timedelta(minutes=5)
            return aware(start_date, self.tz), end + timedelta(microseconds=1)
        start, end = period_window(_period(period), now)
        if end_date is not None:
            end = aware(end_date, self.tz) + timedelta(microseconds=1)
        return start, end

    def _filters(self, provider: str | None) -> dict[str, str] | None:
        """The scope's filters plus a provider; None when they cannot both hold."""
        f = dict(self.scope)
        if provider:
            have = f.get("provider")
            if have is not None and have.lower() != provider.lower():
                return None
            f["provider"] = provider
        return f

    def get_usage(
        self,
        period: BudgetPeriod | str = BudgetPeriod.DAILY,
        provider: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Usage records of a period (``daily``, ``weekly``, ``monthly`` or ``custom`` with
        ``start_date``), within the budget's scope, as Rhetor's row dicts. ``id`` is the
        record's UUID; ``cost`` is the daemon's (0.0 for an unpriced model, with ``priced``
        False); ``cost_exact`` is the Decimal."""
        f = self._filters(provider)
        if f is None:
            return []
        start, end = self._range(period, start_date, end_date)
        rows: list[dict[str, Any]] = []
        for rec in self.client.export_usage_records(
            from_=start,
            to=end,
            component=f.get("component"),
            provider=f.get("provider"),
            model=f.get("model"),
            task_type=f.get("task_type"),
            context_id=f.get("context_id"),
            tier=f.get("tier"),
        ):
            rows.append(
                {
                    "id": rec.id,
                    "timestamp": rec.timestamp.isoformat() if rec.timestamp else None,
                    "provider": rec.provider,
                    "model": rec.model,
                    "component": rec.component,
                    "task_type": rec.task_type,
                    "input_tokens": rec.input_tokens,
                    "output_tokens": rec.output_tokens,
                    "cost": to_float(rec.cost),
                    "metadata": rec.metadata,
                    "priced": rec.priced,
                    "cost_exact": rec.cost,
                }
            )
        return rows

    def _report_totals(self, period: BudgetPeriod | str, provider: str | None) -> Decimal:
        f = self._filters(provider)
        if f is None:
            return Decimal(0)
        start, end = self._range(period)
        return scoped_report(self.client, start, end, f).totals.cost

    def get_current_usage_total(
        self, period: BudgetPeriod | str = BudgetPeriod.DAILY, provider: str | None = None
    ) -> float:
        """Cost of the current period's usage (summed exactly by the daemon), as a float."""
        return float(self._report_totals(period, provider))

    def get_usage_summary(
        self, period: BudgetPeriod | str = BudgetPeriod.DAILY, group_by: str = "provider"
    ) -> dict[str, Any]:
        """Rhetor's summary of a period grouped by ``provider``, ``model``, ``component``
        or ``task_type``, summed by the daemon."""
        per = period.value if isinstance(period, BudgetPeriod) else period
        f = self._filters(None) or {}
        start, end = self._range(period)
        report = scoped_report(self.client, start, end, f, group_by)
        t = report.totals
        if t.requests == 0:
            return {"period": per, "total_cost": 0.0, "total_tokens": 0, "groups": {}}
        groups: dict[Any, dict[str, Any]] = {}
        for row in report.rows:
            groups[row.keys.get(group_by)] = {
                "cost": float(row.measures.cost),
                "input_tokens": row.measures.input_tokens,
                "output_tokens": row.measures.output_tokens,
                "count": row.measures.requests,
            }
        return {
            "period": per,
            "total_cost": float(t.cost),
            "total_input_tokens": t.input_tokens,
            "total_output_tokens": t.output_tokens,
            "total_tokens": t.input_tokens + t.output_tokens,
            "count": t.requests,
            "groups": groups,
        }

    # ------------------------------------------------------------------ checking & routing

    def check_budget(
        self,
        provider: str | None,
        model: str | None,
        input_text: str,
        component: str = "unknown",
        task_type: str = "default",
    ) -> tuple[bool, dict[str, Any]]:
        """Is this request within the limits? Reserves the estimated cost in the daemon
        (an allocation held ``hold_seconds``, settled by the next :meth:`record_usage` /
        :meth:`record_completion` with the same provider, model, component and task type).
        Returns ``(allowed, info)`` with Rhetor's keys. A request without provider or model
        (routed by role) is free and allowed, as in Rhetor, and reserves nothing."""
        cost_estimate = self.estimate_cost(provider, model, input_text)
        estimated_cost = cost_estimate["total_cost"]
        if not provider or not model:
            return True, {
                "allowed": True,
                "reason": "Free model",
                "warnings": [],
                "estimated_cost": estimated_cost,
                "cost_estimate": cost_estimate,
            }
        try:
            grant = self.client.allocate(
                component=component or "unknown",
                provider=provider,
                model=model,
                task_type=task_type or None,
                input_tokens=cost_estimate["input_tokens"],
                max_output_tokens=cost_estimate["output_tokens"],
                ttl_seconds=self.hold_seconds,
            )
        except BudgetExceeded as denied:
            limit = denied.limit
            remaining = denied.remaining
            period = (denied.period or "budget").capitalize()
            if denied.reason == "unpriced_model":
                reason = f"No price is known for {provider}/{model} and a hard limit applies"
            else:
                reason = f"{period} budget limit exceeded"
            usage = (limit - remaining) if limit is not None and remaining is not None else None
            return False, {
                "allowed": False,
                "reason": reason,
                "limit": to_float(limit),
                "usage": to_float(usage),
                "estimated_cost": estimated_cost,
                "policy": BudgetPolicy.ENFORCE.value,
                "cost_estimate": cost_estimate,
                "budget": denied.budget,
                "period": denied.period,
            }
        self._put_hold(self._hold_key(provider, model, component, task_type), grant.id)

        warnings: list[str] = []
        info: dict[str, Any] = {"allowed": True, "warnings": warnings}
        settings = [
            p
            for p in self._settings()
            if p.enabled and (p.provider is None or p.provider.lower() == provider.lower())
        ]
        status = {s.policy_id: s for s in self.client.budget_status(self.budget_id).policies}
        for per in _PERIODS:
            binding = None
            for p in settings:
                st = status.get(p.id)
                if p.period != per or st is None or st.limit is None:
                    continue
                if binding is None or (st.remaining or Decimal(0)) < (
                    binding[1].remaining or Decimal(0)
                ):
                    binding = (p, st)
            if binding is None:
                info[f"{per}_usage"] = float(self._report_totals(per, provider))
                info[f"{per}_limit"] = 0.0
                continue
            p, st = binding
            info[f"{per}_usage"] = float(st.settled)
            info[f"{per}_limit"] = to_float(st.limit)
            for q in settings:
                qs = status.get(q.id)
                if q.period != per or qs is None or qs.limit is None:
                    continue
                if q.enforcement in ("warn", "soft_limit") and qs.settled + qs.reserved > qs.limit:
                    scope = "" if q.provider is None else f" for {q.provider}"
                    warnings.append(
                        f"{per.capitalize()} budget limit of ${float(qs.limit):.2f}{scope} "
                        f"will be exceeded (current: ${float(qs.settled):.2f})"
                    )
        if not cost_estimate["priced"]:
            warnings.append(
                f"No price is known for {provider}/{model}: its cost is not counted "
                "against dollar limits"
            )
        elif cost_estimate["total_cost_exact"] == 0:
            info["reason"] = "Free model"
        info["estimated_cost"] = estimated_cost
        info["cost_estimate"] = cost_estimate
        info["allocation_id"] = grant.id
        return True, info

    def _price_per_token(self, provider: str, model: str) -> Decimal | None:
        price = self._prices.get(provider, model)
        if price is None:
            return None
        return (price.input_cost_per_token or Decimal(0)) + (
            price.output_cost_per_token or Decimal(0)
        )

    def get_model_tiers(self) -> dict[str, list[dict[str, Any]]]:
        """Candidate models by price tier (per 1k input + output tokens, the daemon's
        prices): ``free``, ``low`` (< $0.01), ``medium`` (< $0.05), ``high``; models the
        daemon has no price for are listed under ``unpriced``."""
        tiers: dict[str, list[dict[str, Any]]] = {
            "free": [],
            "low": [],
            "medium": [],
            "high": [],
            "unpriced": [],
        }
        for provider, model in self.candidate_models:
            per_token = self._price_per_token(provider, model)
            if per_token is None:
                tiers["unpriced"].append(
                    {"provider": provider, "model": model, "cost_per_1k_tokens": None}
                )
                continue
            per_1k = per_token * 1000
            if per_1k == 0:
                tier = "free"
            elif per_1k < Decimal("0.01"):
                tier = "low"
            elif per_1k < Decimal("0.05"):
                tier = "medium"
            else:
                tier = "high"
            tiers[tier].append(
                {"provider": provider, "model": model, "cost_per_1k_tokens": float(per_1k)}
            )
        return tiers

    def find_cheaper_alternative(
        self, provider: str, model: str, task_type: str = "default"
    ) -> tuple[str, str] | None:
        """A cheaper candidate model (by the daemon's prices), preferring providers in
        Rhetor's order for the task type; None if the model is free or unpriced."""
        current = self._price_per_token(provider, model)
        if current is None or current == 0:
            return None
        order = _TASK_PREFERENCES.get(task_type, _TASK_PREFERENCES["default"])
        cheaper: list[tuple[int, Decimal, str, str]] = []
        for alt_provider, alt_model in self.candidate_models:
            cost = self._price_per_token(alt_provider, alt_model)
            if cost is not None and cost < current:
                pref = order.index(alt_provider) if alt_provider in order else 99
                cheaper.append((pref, cost, alt_provider, alt_model))
        if not cheaper:
            return None
        cheaper.sort(key=lambda c: (c[0], c[1]))
        return cheaper[0][2], cheaper[0][3]

    def route_with_budget_awareness(
        self,
        input_text: str,
        task_type: str,
        default_provider: str | None,
        default_model: str | None,
        component: str = "unknown",
    ) -> tuple[str | None, str | None, list[str]]:
        """Rhetor's routing: the default model if the budget allows it, else a cheaper
        alternative that fits, else a free model; returns ``(provider, model, warnings)``."""
        allowed, info = self.check_budget(
            default_provider, default_model, input_text, component, task_type
        )
        # Without a provider or model (routed by role) the call is free: always allowed.
        if allowed or not default_provider or not default_model:
            return default_provider, default_model, list(info.get("warnings", []))
        alternative = self.find_cheaper_alternative(default_provider, default_model, task_type)
        if alternative is not None:
            alt_provider, alt_model = alternative
            alt_allowed, alt_info = self.check_budget(
                alt_provider, alt_model, input_text, component, task_type
            )
            if alt_allowed:
                warnings = list(alt_info.get("warnings", []))
                warnings.append(
                    f"Budget limit exceeded. Downgraded from {default_provider}/{default_model}"
                    f" to {alt_provider}/{alt_model}"
                )
                return alt_provider, alt_model, warnings
        free_models = self.get_model_tiers()["free"]
        if free_models:
            for preferred in ("ollama", "simulated"):
                for m in free_models:
                    if m["provider"] == preferred:
                        return (
                            preferred,
                            m["model"],
                            [f"Budget limit exceeded. Using free model {preferred}/{m['model']}"],
                        )
            m = free_models[0]
            return (
                m["provider"],
                m["model"],
                [f"Budget limit exceeded. Using free model {m['provider']}/{m['model']}"],
            )
        cheapest: tuple[Decimal, str, str] | None = None
        for p, m_name in self.candidate_models:
            cost = self._price_per_token(p, m_name)
            if cost is not None and (cheapest is None or cost < cheapest[0]):
                cheapest = (cost, p, m_name)
        if cheapest is not None:
            return (
                cheapest[1],
                cheapest[2],
                [f"Budget limit exceeded. Using cheapest model {cheapest[1]}/{cheapest[2]}"],
            )
        return (
            default_provider,
            default_model,
            ["Budget limit exceeded but no alternatives available. Using default model."],
        )

    # ------------------------------------------------------------------ migration helpers

    def install_missing_prices(
        self, effective_from: datetime | None = None
    ) -> list[tuple[str, str]]:
        """Give the daemon manual prices (admin key) for the models of Rhetor's price table
        it has no price for (the retired claude-3 models, ``simulated``), effective from
        ``effective_from`` (default 2000-01-01, so imported history is priced too).
        Returns the (provider, model) pairs set."""
        since = effective_from or datetime(2000, 1, 1, tzinfo=timezone.utc)
        installed: list[tuple[str, str]] = []
        for provider, models in RHETOR_PRICING.items():
            for model, rates in models.items():
                try:
                    self.client.get_price(provider, model)
                    continue
                except NotFound:
                    pass
                self.client.set_price(
                    provider,
                    model,
                    input_cost_per_token=rates["input_cost_per_token"],
                    output_cost_per_token=rates["output_cost_per_token"],
                    effective_from=since,
                )
                installed.append((provider, model))
        self._prices.clear()
        return installed

    def import_settings_from_db(self, db_path: str) -> int:
        """Apply the active ``budget_settings`` rows of a Rhetor SQLite database (read
        only). Returns how many were applied."""
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT period, provider, limit_amount, enforcement FROM budget_settings "
                "WHERE active = 1 ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
        for period, provider, amount, enforcement in rows:
            self.set_budget_limit(period, to_decimal(amount), provider or "all", enforcement)
        return len(rows)

    def import_usage_from_db(self, db_path: str) -> int:
        """Record the ``usage`` rows of a Rhetor SQLite database in the daemon with their
        own timestamps (naive times read in this manager's time zone), idempotently
        (``request_id`` ``rhetor:<id>@<timestamp>``, the key ``budget migrate rhetor`` uses, so
        a row imported by either is never imported twice). The daemon prices them; Rhetor's
        cost is kept in the metadata as ``rhetor_cost``. ``budget migrate rhetor`` instead keeps
        Rhetor's cost as the recorded cost. Returns how many were new."""
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT id, timestamp, provider, model, component, task_type, input_tokens, "
                "output_tokens, cost, metadata FROM usage ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
        created = 0
        for rid, ts, provider, model, component, task_type, tin, tout, cost, meta in rows:
            md: dict[str, Any] = {}
            if meta:
                try:
                    loaded = json.loads(meta)
                    if isinstance(loaded, dict):
                        md.update(loaded)
                except ValueError:
                    md["rhetor_metadata"] = meta
            md["rhetor_id"] = rid
            if cost is not None:
                md["rhetor_cost"] = cost
            when = aware(datetime.fromisoformat(ts), self.tz)
            result = self.client.record_usage(
                component=component or "unknown",
                provider=provider,
                model=model,
                task_type=task_type or None,
                input_tokens=int(tin or 0),
                output_tokens=int(tout or 0),
                timestamp=when,
                request_id=f"rhetor:{rid}@{ts}",
                metadata=md,
            )
            created += 1 if result.created else 0
        return created


#: Rhetor's class name, for ``from tekton_budget.compat.rhetor import BudgetManager``.
BudgetManager = RhetorBudgetManager
