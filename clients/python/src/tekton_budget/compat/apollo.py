"""Apollo's ``TokenBudgetManager``, backed by the daemon.

Apollo switches with one import::

    # from apollo.core.token_budget import TokenBudgetManager
    # from apollo.models.budget import BudgetPolicy, BudgetTier, BudgetPeriod, ...
    from tekton_budget.compat.apollo import (
        TokenBudgetManager, BudgetPolicy, BudgetTier, BudgetPeriod, BudgetPolicyType,
    )

Apollo's token policies (a token limit per tier × period × optional component and task
type, type ``ignore | warn | soft_limit | hard_limit``, thresholds) become the policies of
one budget (``apollo`` by default): ``token_limit`` the limit, ``enforcement`` the type, and
``tier``/``component``/``task_type`` filters. ``per_session`` windows are the daemon's
per-``context_id`` windows. Allocations are daemon allocations keyed locally by
``context_id``, with Apollo's tier passed explicitly; priority 10 bypasses hard limits in
the daemon exactly as in Apollo.

Method names, arguments and return shapes are Apollo's; where behaviour differs the README
of this package says so (section "Apollo drop-in").
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any

from ..aio import AsyncBudgetClient
from ..client import BudgetClient
from ..errors import BudgetError, BudgetExceeded, Conflict, InvalidRequest, NotFound
from ..models import Allocation, AllocationGrant, Policy
from ._common import ensure_budget, scoped_report, to_decimal

__all__ = [
    "BudgetTier",
    "BudgetPeriod",
    "BudgetPolicyType",
    "TaskPriority",
    "BudgetPolicy",
    "BudgetAllocation",
    "BudgetUsageRecord",
    "BudgetSummary",
    "ApolloTokenBudget",
    "TokenBudgetManager",
]

log = logging.getLogger("tekton_budget.compat.apollo")


class BudgetTier(str, Enum):
    LOCAL_LIGHTWEIGHT = "local_lightweight"
    LOCAL_MIDWEIGHT = "local_midweight"
    REMOTE_HEAVYWEIGHT = "remote_heavyweight"


class BudgetPeriod(str, Enum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    PER_SESSION = "per_session"
    PER_TASK = "per_task"


class BudgetPolicyType(str, Enum):
    IGNORE = "ignore"
    WARN = "warn"
    SOFT_LIMIT = "soft_limit"
    HARD_LIMIT = "hard_limit"


class TaskPriority(IntEnum):
    LOW = 1
    NORMAL = 5
    HIGH = 8
    CRITICAL = 10


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime) -> datetime:
    """Apollo's datetimes are naive local times; make them aware."""
    return value.astimezone(timezone.utc) if value.tzinfo is None else value


@dataclass(kw_only=True)
class BudgetPolicy:
    """Apollo's policy model (same fields). ``policy_id`` is the daemon's policy id once
    stored; ``tier`` is None for a daemon policy without a tier filter."""

    policy_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    type: BudgetPolicyType
    period: BudgetPeriod
    tier: BudgetTier | None
    component: str | None = None
    task_type: str | None = None
    limit: int
    warning_threshold: float = 0.8
    action_threshold: float = 0.95
    start_date: datetime = field(default_factory=_now)
    end_date: datetime | None = None
    enabled: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class BudgetAllocation:
    """Apollo's allocation model, read from the daemon's allocation(s) of a context."""

    allocation_id: str
    context_id: str
    component: str
    tier: BudgetTier
    provider: str | None = None
    model: str | None = None
    task_type: str
    priority: int = 5
    tokens_allocated: int
    tokens_used: int = 0
    creation_time: datetime = field(default_factory=_now)
    expiration_time: datetime | None = None
    is_active: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def remaining_tokens(self) -> int:
        return max(0, self.tokens_allocated - self.tokens_used)

    @property
    def usage_percentage(self) -> float:
        return 0.0 if self.tokens_allocated == 0 else self.tokens_used / self.tokens_allocated

    @property
    def is_expired(self) -> bool:
        return self.expiration_time is not None and _now() > _utc(self.expiration_time)

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class BudgetUsageRecord:
    """Apollo's usage record model (returned by :meth:`ApolloTokenBudget.get_usage_records`)."""

    record_id: str
    allocation_id: str
    context_id: str
    component: str
    provider: str
    model: str
    task_type: str
    tokens_used: int
    usage_type: str
    timestamp: datetime = field(default_factory=_now)
    operation_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class BudgetSummary:
    """Apollo's summary model."""

    period: BudgetPeriod
    tier: BudgetTier
    component: str | None = None
    task_type: str | None = None
    total_allocated: int
    total_used: int
    limit: int
    usage_percentage: float
    active_allocations: int
    start_time: datetime
    end_time: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.total_used)

    @property
    def is_exceeded(self) -> bool:
        return self.total_used > self.limit

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Context:
    """What this process knows of a context's allocation (the daemon has the rest)."""

    allocation_ids: list[str]
    component: str
    tier: BudgetTier
    provider: str | None
    model: str | None
    task_type: str
    priority: int
    metadata: dict[str, Any]
    active: bool = True


_PERIOD_TO_DAEMON = {p.value: p.value for p in BudgetPeriod}
_PERIOD_TO_DAEMON["per_task"] = "per_session"
_CALENDAR = ("hourly", "daily", "weekly", "monthly")
_TIERS = {t.value for t in BudgetTier}
#: Enforcement aliases the daemon accepts, as Apollo policy types.
FROM_DAEMON_TYPE = {"hard": "hard_limit", "enforce": "hard_limit", "soft": "soft_limit"}
_EVENTS = (
    "on_allocation_created",
    "on_allocation_updated",
    "on_allocation_expired",
    "on_budget_exceeded",
    "on_policy_updated",
)


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


class ApolloTokenBudget:
    """Apollo's ``TokenBudgetManager`` API on top of the Tekton Budget daemon.

    ``data_dir``, ``policy_file`` and ``cleanup_interval`` are Apollo's arguments: when the
    budget is created (first start), its policies come from ``policy_file`` (or
    ``data_dir/budget_policies.json``) if that file exists, else Apollo's defaults (warn
    policies per tier: hourly, daily, per session). Nothing is written to ``data_dir``.
    ``client``/``async_client`` (or ``base_url``/``api_key``, or ``$BUDGET_URL``/
    ``$BUDGET_API_KEY``) reach the daemon; ``budget`` names the budget; ``scope`` restricts
    which calls count against it (default: every call).
    """

    DEFAULT_LIMITS: dict[BudgetTier, dict[BudgetPeriod, int]] = {
        BudgetTier.LOCAL_LIGHTWEIGHT: {
            BudgetPeriod.HOURLY: 1_000_000,
            BudgetPeriod.DAILY: 10_000_000,
            BudgetPeriod.PER_SESSION: 8_000,
        },
        BudgetTier.LOCAL_MIDWEIGHT: {
            BudgetPeriod.HOURLY: 500_000,
            BudgetPeriod.DAILY: 5_000_000,
            BudgetPeriod.PER_SESSION: 16_000,
        },
        BudgetTier.REMOTE_HEAVYWEIGHT: {
            BudgetPeriod.HOURLY: 100_000,
            BudgetPeriod.DAILY: 1_000_000,
            BudgetPeriod.PER_SESSION: 32_000,
        },
    }

    DEFAULT_ALLOCATIONS: dict[str, dict[int, int]] = {
        "default": {1: 1000, 5: 2000, 8: 4000, 10: 8000},
        "chat": {1: 2000, 5: 4000, 8: 8000, 10: 16000},
        "coding": {1: 4000, 5: 8000, 8: 16000, 10: 32000},
        "analysis": {1: 4000, 5: 8000, 8: 16000, 10: 32000},
    }

    def __init__(
        self,
        data_dir: str | None = None,
        policy_file: str | None = None,
        cleanup_interval: float = 3600.0,
        *,
        client: BudgetClient | None = None,
        async_client: AsyncBudgetClient | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        budget: str = "apollo",
        scope: Mapping[str, str] | None = None,
        install_defaults: bool = True,
    ) -> None:
        self.data_dir = data_dir
        if policy_file is None and data_dir is not None:
            policy_file = os.path.join(data_dir, "budget_policies.json")
        self.policy_file = policy_file
        self.cleanup_interval = cleanup_interval
        self.client = client or BudgetClient(base_url, api_key)
        self.async_client = async_client
        self.budget = budget
        self.scope: dict[str, str] = dict(scope or {})
        self.is_running = False
        self._lock = threading.Lock()
        self._contexts: dict[str, _Context] = {}
        self.callbacks: dict[str, list[Callable[..., Any]]] = {e: [] for e in _EVENTS}
        self.component_tiers: dict[str, BudgetTier] = {}
        self.model_tiers: dict[str, BudgetTier] = {
            "codellama": BudgetTier.LOCAL_LIGHTWEIGHT,
            "deepseek-coder": BudgetTier.LOCAL_LIGHTWEIGHT,
            "starcoder": BudgetTier.LOCAL_LIGHTWEIGHT,
            "claude-haiku": BudgetTier.LOCAL_MIDWEIGHT,
            "claude-3-haiku": BudgetTier.LOCAL_MIDWEIGHT,
            "llama-3": BudgetTier.LOCAL_MIDWEIGHT,
            "mistral": BudgetTier.LOCAL_MIDWEIGHT,
            "qwen": BudgetTier.LOCAL_MIDWEIGHT,
            "gpt-4": BudgetTier.REMOTE_HEAVYWEIGHT,
            "claude-3-opus": BudgetTier.REMOTE_HEAVYWEIGHT,
            "claude-3-sonnet": BudgetTier.REMOTE_HEAVYWEIGHT,
            "claude-3.5-sonnet": BudgetTier.REMOTE_HEAVYWEIGHT,
            "claude-3.7-sonnet": BudgetTier.REMOTE_HEAVYWEIGHT,
        }
        self.provider_tiers: dict[str, BudgetTier] = {
            "openai": BudgetTier.REMOTE_HEAVYWEIGHT,
            "anthropic": BudgetTier.REMOTE_HEAVYWEIGHT,
            "ollama": BudgetTier.LOCAL_MIDWEIGHT,
            "local": BudgetTier.LOCAL_LIGHTWEIGHT,
        }
        budget_obj, created = ensure_budget(
            self.client,
            budget,
            description="Apollo's token budgets (tekton_budget.compat.apollo)",
            owner="apollo",
            scope=self.scope,
        )
        self.budget_id = budget_obj.id
        if install_defaults and (created or not budget_obj.policies):
            if self.policy_file and os.path.exists(self.policy_file):
                self.import_policies(self.policy_file)
            else:
                self._create_default_policies()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Apollo starts a cleanup loop; the daemon expires leases itself, so this only
        marks the manager running."""
        self.is_running = True

    async def stop(self) -> None:
        """Marks the manager stopped (policies and usage are already in the daemon)."""
        self.is_running = False

    # ------------------------------------------------------------------ tiers

    def _determine_tier(
        self,
        component: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> BudgetTier:
        if model and model.lower() in self.model_tiers:
            return self.model_tiers[model.lower()]
        if component and component in self.component_tiers:
            return self.component_tiers[component]
        if provider and provider.lower() in self.provider_tiers:
            return self.provider_tiers[provider.lower()]
        return BudgetTier.REMOTE_HEAVYWEIGHT

    def get_model_tier(self, model: str) -> BudgetTier:
        return self.model_tiers.get(model.lower(), BudgetTier.REMOTE_HEAVYWEIGHT)

    def set_model_tier(self, model: str, tier: BudgetTier | str) -> None:
        self.model_tiers[model.lower()] = BudgetTier(tier)

    def get_component_tier(self, component: str) -> BudgetTier | None:
        return self.component_tiers.get(component)

    def set_component_tier(self, component: str, tier: BudgetTier | str) -> None:
        self.component_tiers[component] = BudgetTier(tier)

    def get_provider_tier(self, provider: str) -> BudgetTier:
        return self.provider_tiers.get(provider.lower(), BudgetTier.REMOTE_HEAVYWEIGHT)

    def set_provider_tier(self, provider: str, tier: BudgetTier | str) -> None:
        self.provider_tiers[provider.lower()] = BudgetTier(tier)

    # ------------------------------------------------------------------ callbacks

    def register_callback(self, event_type: str, callback: Callable[..., Any]) -> None:
        if event_type not in self.callbacks:
            log.warning("Unknown event type: %s", event_type)
            return
        self.callbacks[event_type].append(callback)

    def _trigger(self, event_type: str, *args: Any) -> None:
        for callback in self.callbacks.get(event_type, []):
            try:
                outcome = callback(*args)
                if inspect.isawaitable(outcome):
                    try:
                        loop = asyncio.get_running_loop()
                    except RuntimeError:
                        log.warning("async %s callback needs a running event loop", event_type)
                        if inspect.iscoroutine(outcome):
                            outcome.close()
                        continue
                    loop.create_task(_await(outcome))
            except Exception as exc:  # a callback's failure must not break accounting
                log.error("Error in %s callback: %s", event_type, exc)

    # ------------------------------------------------------------------ policies

    def _policy_body(self, policy: Any) -> dict[str, Any]:
        period = str(_value(_attr(policy, "period")))
        if period not in _PERIOD_TO_DAEMON:
            raise ValueError(f"unknown period {period!r}")
        limit = _attr(policy, "limit")
        if limit is None:
            raise ValueError("an Apollo policy needs a token limit")
        end_date = _attr(policy, "end_date")
        if isinstance(end_date, str):
            end_date = datetime.fromisoformat(end_date)
        enabled = bool(_attr(policy, "enabled", True))
        if isinstance(end_date, datetime) and _utc(end_date) < _now():
            enabled = False
        tier = _value(_attr(policy, "tier"))
        return {
            "period": _PERIOD_TO_DAEMON[period],
            "token_limit": int(limit),
            "enforcement": str(_value(_attr(policy, "type", BudgetPolicyType.WARN))),
            "warning_threshold": to_decimal(_attr(policy, "warning_threshold", 0.8)),
            "action_threshold": to_decimal(_attr(policy, "action_threshold", 0.95)),
            "tier": str(tier) if tier else None,
            "component": _attr(policy, "component") or None,
            "task_type": _attr(policy, "task_type") or None,
            "enabled": enabled,
        }

    @staticmethod
    def _to_apollo(p: Policy) -> BudgetPolicy | None:
        if p.token_limit is None or p.period not in _PERIOD_TO_DAEMON:
            return None  # cost-only, total and cron policies have no Apollo form
        return BudgetPolicy(
            policy_id=p.id,
            type=BudgetPolicyType(FROM_DAEMON_TYPE.get(p.enforcement, p.enforcement)),
            period=BudgetPeriod(p.period),
            tier=BudgetTier(p.tier) if p.tier else None,
            component=p.component,
            task_type=p.task_type,
            limit=p.token_limit,
            warning_threshold=float(p.warning_threshold),
            action_threshold=float(p.action_threshold),
            start_date=p.created_at or _now(),
            end_date=None,
            enabled=p.enabled,
            metadata={},
        )

    @property
    def policies(self) -> dict[str, BudgetPolicy]:
        """The budget's token policies, by (daemon) policy id."""
        out: dict[str, BudgetPolicy] = {}
        for p in self.client.list_policies(self.budget_id):
            ap = self._to_apollo(p)
            if ap is not None:
                out[ap.policy_id] = ap
        return out

    def _create_default_policies(self) -> None:
        for tier, limits in self.DEFAULT_LIMITS.items():
            for period, limit in limits.items():
                self.client.add_policy(
                    self.budget_id,
                    period=_PERIOD_TO_DAEMON[period.value],
                    token_limit=limit,
                    enforcement=BudgetPolicyType.WARN.value,
                    warning_threshold=Decimal("0.8"),
                    action_threshold=Decimal("0.95"),
                    tier=tier.value,
                )

    def add_policy(self, policy: Any) -> str:
        """Add a policy (any object or dict with Apollo's policy fields), or update it when
        its ``policy_id`` is one of this budget's. Returns the daemon's policy id."""
        body = self._policy_body(policy)
        existing = self.get_policy(str(_attr(policy, "policy_id", "")))
        if existing is not None:
            clear = [k for k in ("tier", "component", "task_type") if body[k] is None]
            changes = {k: v for k, v in body.items() if v is not None}
            stored = self.client.update_policy(existing.policy_id, clear=clear or None, **changes)
        else:
            stored = self.client.add_policy(self.budget_id, **body)
        result = self._to_apollo(stored)
        # The caller's object now names the stored policy, so get/update/delete_policy on
        # ``policy.policy_id`` reach it (as in Apollo, where the id was the caller's).
        if isinstance(policy, dict):
            policy["policy_id"] = stored.id
        elif hasattr(policy, "policy_id"):
            try:
                policy.policy_id = stored.id
            except (AttributeError, TypeError):  # a frozen or slotted object: keep it as is
                pass
        self._trigger("on_policy_updated", result)
        return stored.id

    def get_policy(self, policy_id: str) -> BudgetPolicy | None:
        if not policy_id:
            return None
        try:
            p = self.client.get_policy(policy_id)
        except (NotFound, InvalidRequest):
            return None
        if p.budget_id != self.budget_id:
            return None
        return self._to_apollo(p)

    def update_policy(self, policy_id: str, **kwargs: Any) -> BudgetPolicy | None:
        """Change a policy's fields (Apollo's names: ``type``, ``limit``, ``period``,
        ``tier``, ``component``, ``task_type``, thresholds, ``enabled``, ``end_date``)."""
        current = self.get_policy(policy_id)
        if current is None:
            log.warning("No policy with ID %s", policy_id)
            return None
        for name, value in kwargs.items():
            if hasattr(current, name):
                setattr(current, name, value)
        body = self._policy_body(current)
        clear = [k for k in ("tier", "component", "task_type") if body[k] is None]
        changes = {k: v for k, v in body.items() if v is not None}
        stored = self.client.update_policy(policy_id, clear=clear or None, **changes)
        result = self._to_apollo(stored)
        self._trigger("on_policy_updated", result)
        return result

    def delete_policy(self, policy_id: str) -> bool:
        if self.get_policy(policy_id) is None:
            log.warning("No policy with ID %s", policy_id)
            return False
        self.client.delete_policy(policy_id)
        return True

    def import_policies(self, path: str) -> list[str]:
        """Add the policies of an Apollo ``budget_policies.json``; returns their ids."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return [self.add_policy({**p, "policy_id": ""}) for p in data if isinstance(p, dict)]

    # ------------------------------------------------------------------ allocations

    def _default_tokens(self, task_type: str, priority: int) -> int:
        table = self.DEFAULT_ALLOCATIONS.get(task_type)
        if table is None:
            return self.DEFAULT_ALLOCATIONS["default"][TaskPriority.NORMAL]
        return table.get(priority, table[TaskPriority.NORMAL])

    @staticmethod
    def _ttl(expiration: datetime | None) -> int:
        if expiration is None:
            return 86_400  # Apollo's default: 24 hours
        seconds = math.ceil((_utc(expiration) - _now()).total_seconds())
        return max(1, min(seconds, 86_400))

    def _allocate_sync(self, request: dict[str, Any]) -> AllocationGrant:
        return self.client.allocate(**request)

    async def allocate_budget(
        self,
        context_id: str,
        component: str,
        task_type: str = "default",
        provider: str | None = None,
        model: str | None = None,
        priority: int = 5,
        token_count: int | None = None,
        expiration: datetime | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> BudgetAllocation | None:
        """Reserve ``token_count`` tokens (Apollo's default per task type and priority) for
        a context, in Apollo's tier for the component/provider/model. None when a hard
        limit refuses it (priority 10 bypasses hard limits). A new allocation for a context
        replaces (and releases) the previous one, as in Apollo."""
        tier = self._determine_tier(component, provider, model)
        tokens = token_count if token_count is not None else self._default_tokens(task_type, priority)
        request: dict[str, Any] = dict(
            component=component,
            provider=provider or "unknown",
            model=model or "unknown",
            context_id=context_id,
            task_type=task_type or None,
            tier=tier.value,
            input_tokens=int(tokens),
            # Apollo's budgets are tokens: the allocation holds tokens only, so it never
            # takes dollars from a cost limit (Rhetor's) for the day it may stay open.
            amount=Decimal(0),
            ttl_seconds=self._ttl(expiration),
            priority=int(priority),
        )
        try:
            if self.async_client is not None:
                grant = await self.async_client.allocate(**request)
            else:
                grant = await asyncio.to_thread(self._allocate_sync, request)
        except BudgetExceeded as denied:
            log.warning("Budget hard limit exceeded for %s (context: %s)", tier.value, context_id)
            used = None
            if denied.limit is not None and denied.remaining is not None:
                used = int(denied.limit - denied.remaining)
            self._trigger("on_budget_exceeded", self.get_policy(denied.policy or ""), used)
            return None
        with self._lock:
            previous = self._contexts.get(context_id)
            self._contexts[context_id] = _Context(
                allocation_ids=[grant.id],
                component=component,
                tier=tier,
                provider=provider,
                model=model,
                task_type=task_type,
                priority=int(priority),
                metadata=dict(metadata or {}),
            )
        if previous is not None:
            self._release_all(previous)
        allocation = self._build(context_id, self._contexts[context_id], [grant.allocation])
        self._trigger("on_allocation_created", allocation)
        return allocation

    def _release_all(self, ctx: _Context) -> None:
        for allocation_id in ctx.allocation_ids:
            try:
                self.client.release(allocation_id)
            except BudgetError as exc:
                log.warning("could not release allocation %s: %s", allocation_id, exc)
        ctx.active = False

    def _context(self, context_id: str) -> _Context | None:
        """This process's record of a context, else the newest active daemon allocation
        for it (another process, or before a restart, made it)."""
        with self._lock:
            ctx = self._contexts.get(context_id)
        if ctx is not None:
            return ctx
        found = self.client.list_allocations(context_id=context_id, status="active", limit=1)
        if not found:
            return None
        a = found[0]
        ctx = _Context(
            allocation_ids=[a.id],
            component=a.component,
            tier=(
                BudgetTier(a.tier)
                if a.tier in _TIERS
                else self._determine_tier(a.component, a.provider, a.model)
            ),
            provider=a.provider,
            model=a.model,
            task_type=a.task_type or "default",
            priority=a.priority,
            metadata={},
        )
        with self._lock:
            self._contexts.setdefault(context_id, ctx)
            return self._contexts[context_id]

    def _build(
        self, context_id: str, ctx: _Context, allocations: list[Allocation]
    ) -> BudgetAllocation:
        primary = allocations[0]
        expirations = [a.expires_at for a in allocations if a.expires_at is not None]
        return BudgetAllocation(
            allocation_id=primary.id,
            context_id=context_id,
            component=ctx.component,
            tier=ctx.tier,
            provider=ctx.provider,
            model=ctx.model,
            task_type=ctx.task_type,
            priority=ctx.priority,
            tokens_allocated=sum(a.reserved_tokens for a in allocations),
            tokens_used=sum(a.used_tokens for a in allocations),
            creation_time=primary.created_at or _now(),
            expiration_time=min(expirations) if expirations else None,
            is_active=ctx.active and all(a.status == "active" for a in allocations),
            metadata=dict(ctx.metadata),
        )

    def get_allocation(self, context_id: str) -> BudgetAllocation | None:
        """The context's allocation as the daemon has it now (None if unknown or expired)."""
        ctx = self._context(context_id)
        if ctx is None:
            return None
        allocations = [self.client.get_allocation(i) for i in ctx.allocation_ids]
        if allocations[0].status == "expired":
            with self._lock:
                self._contexts.pop(context_id, None)
            self._trigger("on_allocation_expired", self._build(context_id, ctx, allocations))
            return None
        return self._build(context_id, ctx, allocations)

    def record_usage(
        self,
        context_id: str,
        tokens: int,
        usage_type: str = "total",
        operation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Record tokens used by a context's operation against its allocation. Returns the
        tokens recorded: all of them (the daemon never drops usage), or 0 when the context
        has no active allocation."""
        ctx = self._context(context_id)
        if ctx is None:
            log.warning("No active allocation for context %s", context_id)
            return 0
        if tokens <= 0:
            return 0
        primary = self.client.get_allocation(ctx.allocation_ids[0])
        if not ctx.active or primary.status != "active":
            log.warning("Allocation for context %s is inactive or expired", context_id)
            return 0
        if usage_type == "output":
            input_tokens, output_tokens = 0, int(tokens)
        else:
            input_tokens, output_tokens = int(tokens), 0
        md: dict[str, Any] = dict(metadata or {})
        md["usage_type"] = usage_type
        if operation_id is not None:
            md["operation_id"] = operation_id
        result = self.client.record_usage(
            allocation_id=primary.id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            metadata=md,
        )
        allocations = [self.client.get_allocation(i) for i in ctx.allocation_ids]
        allocation = self._build(context_id, ctx, allocations)
        if allocation.tokens_used >= allocation.tokens_allocated:
            self._release_all(ctx)  # used up: inactive, as in Apollo
            allocation.is_active = False
        for budget in result.budgets:
            for status in budget.policies:
                if status.state == "exceeded":
                    self._trigger(
                        "on_budget_exceeded", self.get_policy(status.policy_id), status.tokens_settled
                    )
        self._trigger("on_allocation_updated", allocation)
        return int(tokens)

    def _extend(self, ctx: _Context, by: timedelta) -> None:
        """Apollo's ``expiration += by`` on each of the context's live allocations."""
        for allocation_id in ctx.allocation_ids:
            try:
                current = self.client.get_allocation(allocation_id)
                if current.status != "active" or current.expires_at is None:
                    continue
                ttl = math.ceil((current.expires_at + by - _now()).total_seconds())
                self.client.extend_allocation(allocation_id, max(1, min(ttl, 86_400)))
            except (Conflict, NotFound) as exc:  # ended meanwhile: nothing to extend
                log.warning("could not extend allocation %s: %s", allocation_id, exc)

    def update_allocation(
        self,
        context_id: str,
        additional_tokens: int | None = None,
        extend_expiration: timedelta | None = None,
        is_active: bool | None = None,
    ) -> BudgetAllocation | None:
        """Add tokens (a further daemon allocation for the context; None if a hard limit
        refuses it), move the expiration later by ``extend_expiration`` (each of the
        context's daemon allocations gets the longer lease, at most 24 hours from now), or
        deactivate (``is_active=False`` releases what is held)."""
        ctx = self._context(context_id)
        if ctx is None:
            log.warning("No active allocation for context %s", context_id)
            return None
        if additional_tokens is not None and additional_tokens > 0:
            primary = self.client.get_allocation(ctx.allocation_ids[0])
            ttl = 300
            if primary.expires_at is not None:
                ttl = max(1, min(86_400, math.ceil((primary.expires_at - _now()).total_seconds())))
            try:
                extra = self.client.allocate(
                    component=ctx.component,
                    provider=ctx.provider or "unknown",
                    model=ctx.model or "unknown",
                    context_id=context_id,
                    task_type=ctx.task_type or None,
                    tier=ctx.tier.value,
                    input_tokens=int(additional_tokens),
                    amount=Decimal(0),
                    ttl_seconds=ttl,
                    priority=ctx.priority,
                )
            except BudgetExceeded as denied:
                log.warning("additional tokens for %s refused: %s", context_id, denied)
                return None
            ctx.allocation_ids.append(extra.id)
        if extend_expiration is not None:
            self._extend(ctx, extend_expiration)
        if is_active is False and ctx.active:
            self._release_all(ctx)
        elif is_active is True and not ctx.active:
            log.warning("a released allocation cannot be reactivated; allocate again")
        allocation = self.get_allocation(context_id)
        if allocation is not None:
            self._trigger("on_allocation_updated", allocation)
        return allocation

    # ------------------------------------------------------------------ summaries

    def get_budget_summary(
        self,
        tier: BudgetTier | str | None = None,
        period: BudgetPeriod | str = BudgetPeriod.DAILY,
        component: str | None = None,
        task_type: str | None = None,
    ) -> list[BudgetSummary]:
        """One summary per tier that has a policy for ``period``: the most specific such
        policy's limit, the tokens used in its current window (summed by the daemon for
        the tier, component and task type), and the active allocations."""
        per = BudgetPeriod(period)
        tiers = [BudgetTier(tier)] if tier else list(BudgetTier)
        policies = list(self.policies.values())
        status: dict[str, Any] | None = None
        active: list[Allocation] | None = None
        summaries: list[BudgetSummary] = []
        for current in tiers:
            chosen: BudgetPolicy | None = None
            for p in policies:
                if not p.enabled or p.period != per:
                    continue
                if p.tier is not None and p.tier != current:
                    continue
                if p.component and component and p.component != component:
                    continue
                if p.task_type and task_type and p.task_type != task_type:
                    continue
                if chosen is None or p.component or p.task_type:
                    chosen = p
            if chosen is None:
                continue
            if per.value in _CALENDAR:
                if status is None:
                    status = {
                        s.policy_id: s for s in self.client.budget_status(self.budget_id).policies
                    }
                st = status.get(chosen.policy_id)
                start = st.window_start if st is not None and st.window_start else _now()
                end = st.window_end if st is not None and st.window_end else start + timedelta(days=1)
                filters = dict(self.scope)
                filters["tier"] = current.value
                if component:
                    filters["component"] = component
                if task_type:
                    filters["task_type"] = task_type
                used = scoped_report(self.client, start, end, filters).totals.total_tokens
            else:
                # per_session/per_task windows are per context; Apollo reports 0 here too
                start = _now()
                end = start + timedelta(days=1)
                used = 0
            if active is None:
                active = self.client.list_allocations(status="active", limit=1000)
            mine = [
                a
                for a in active
                if a.tier == current.value
                and (not component or a.component == component)
                and (not task_type or a.task_type == task_type)
            ]
            summaries.append(
                BudgetSummary(
                    period=per,
                    tier=current,
                    component=component,
                    task_type=task_type,
                    total_allocated=sum(a.reserved_tokens for a in mine),
                    total_used=used,
                    limit=chosen.limit,
                    usage_percentage=used / chosen.limit if chosen.limit > 0 else 0.0,
                    active_allocations=len(mine),
                    start_time=start,
                    end_time=end,
                )
            )
        return summaries

    def get_usage_records(self, context_id: str | None = None) -> list[BudgetUsageRecord]:
        """Usage records in Apollo's shape (the daemon's records, all components unless
        the budget has a scope; of one context with ``context_id``)."""
        out: list[BudgetUsageRecord] = []
        for rec in self.client.iter_usage_records(
            context_id=context_id, component=self.scope.get("component")
        ):
            md = rec.metadata if isinstance(rec.metadata, dict) else {}
            out.append(
                BudgetUsageRecord(
                    record_id=rec.id,
                    allocation_id=rec.allocation_id or "",
                    context_id=rec.context_id or "",
                    component=rec.component,
                    provider=rec.provider,
                    model=rec.model,
                    task_type=rec.task_type or "default",
                    tokens_used=rec.total_tokens,
                    usage_type=str(md.get("usage_type", "total")),
                    timestamp=rec.timestamp or _now(),
                    operation_id=md.get("operation_id"),
                    metadata=md,
                )
            )
        return out

    def import_usage_records(self, path: str) -> int:
        """Record the entries of an Apollo ``usage_records_<epoch>.json`` in the daemon with
        their own timestamps (naive times read as UTC), idempotently (``request_id``
        ``apollo:<record_id>``, the key ``budget migrate apollo`` uses, so a record imported by
        either is never imported twice). Returns how many were new."""
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        created = 0
        for r in data:
            if not isinstance(r, dict):
                continue
            tokens = int(r.get("tokens_used") or 0)
            usage_type = str(r.get("usage_type") or "total")
            ts = datetime.fromisoformat(str(r["timestamp"]))
            when = ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts
            md: dict[str, Any] = dict(r.get("metadata") or {})
            md.update(
                usage_type=usage_type,
                apollo_allocation_id=r.get("allocation_id"),
                operation_id=r.get("operation_id"),
            )
            provider = str(r.get("provider") or "unknown")
            model = str(r.get("model") or "unknown")
            component = str(r.get("component") or "unknown")
            result = self.client.record_usage(
                component=component,
                provider=provider,
                model=model,
                context_id=r.get("context_id") or None,
                task_type=r.get("task_type") or None,
                tier=self._determine_tier(component, provider, model).value,
                input_tokens=0 if usage_type == "output" else tokens,
                output_tokens=tokens if usage_type == "output" else 0,
                timestamp=when,
                request_id=f"apollo:{r.get('record_id') or uuid.uuid4()}",
                metadata=md,
            )
            created += 1 if result.created else 0
        return created


async def _await(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception as exc:  # pragma: no cover - logged like Apollo does
        log.error("Error in async callback: %s", exc)


#: Apollo's class name, for ``from tekton_budget.compat.apollo import TokenBudgetManager``.
TokenBudgetManager = ApolloTokenBudget
