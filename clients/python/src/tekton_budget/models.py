"""Typed results of the API.

Money is always :class:`decimal.Decimal`, parsed from the daemon's decimal strings (never
through a float). Times are timezone-aware :class:`datetime.datetime` in UTC. Every object
keeps the JSON it was built from in ``raw`` (not shown in ``repr``), so fields a newer
daemon adds are not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict

__all__ = [
    "Role",
    "Period",
    "Enforcement",
    "PolicySpec",
    "Policy",
    "Budget",
    "PolicyStatus",
    "BudgetStatus",
    "GrantedBudget",
    "AllocationGrant",
    "Allocation",
    "CostBreakdown",
    "UsageRecord",
    "BudgetPolicies",
    "UsageResult",
    "ImportResult",
    "ImportUsageResult",
    "UsageRecordPage",
    "Estimate",
    "Price",
    "SummaryRow",
    "UsageSummary",
    "ReportMeasures",
    "ReportRow",
    "UsageReport",
    "Alert",
    "ApiKey",
    "CreatedKey",
]

Role = Literal["read", "write", "admin"]
Period = Literal["hourly", "daily", "weekly", "monthly", "total", "per_session", "cron"]
Enforcement = Literal["hard_limit", "soft_limit", "warn", "ignore", "hard", "enforce", "soft"]


class PolicySpec(TypedDict, total=False):
    """A policy to create (``POST /budgets`` ``policies[]``, ``POST /budgets/{id}/policies``).

    ``period`` is required; give ``cost_limit`` (dollars: a ``Decimal``, ``int`` or decimal
    string), ``token_limit`` or both.
    """

    period: str
    cost_limit: Decimal | int | str
    token_limit: int
    enforcement: str
    warning_threshold: Decimal | int | str
    action_threshold: Decimal | int | str
    cron: str
    timezone: str
    provider: str
    model: str
    component: str
    task_type: str
    tier: str
    context_id: str
    allow_unpriced: bool
    enabled: bool


# --------------------------------------------------------------------------- parsing helpers


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _req_str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (str, Decimal)):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _req_int(value: Any) -> int:
    result = _int(value)
    return 0 if result is None else result


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


def _dec(value: Any) -> Decimal | None:
    """A money or ratio field: the server's decimal string (or an exact JSON number)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise TypeError(f"expected a decimal string, got {value!r}")


def _req_dec(value: Any) -> Decimal:
    result = _dec(value)
    return Decimal(0) if result is None else result


def _dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value)


def _req_dt(value: Any) -> datetime:
    result = _dt(value)
    if result is None:
        raise ValueError(f"expected an RFC 3339 time, got {value!r}")
    return result


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _obj(value).items() if v is not None}


_FILTERS = ("provider", "model", "component", "task_type", "tier", "context_id")


# --------------------------------------------------------------------------- budgets & policies


@dataclass(frozen=True, slots=True)
class Policy:
    """A budget's policy (limit, period, enforcement, thresholds, filters)."""

    id: str
    budget_id: str
    period: str
    cost_limit: Decimal | None
    token_limit: int | None
    enforcement: str
    warning_threshold: Decimal
    action_threshold: Decimal
    allow_unpriced: bool
    enabled: bool
    created_at: datetime | None
    cron: str | None = None
    timezone: str | None = None
    provider: str | None = None
    model: str | None = None
    component: str | None = None
    task_type: str | None = None
    tier: str | None = None
    context_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def filters(self) -> dict[str, str]:
        """The filters this policy sets (``{"provider": "anthropic"}``, ``{}`` for none)."""
        out: dict[str, str] = {}
        for key in _FILTERS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> Policy:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            budget_id=_req_str(d.get("budget_id")),
            period=_req_str(d.get("period")),
            cost_limit=_dec(d.get("cost_limit")),
            token_limit=_int(d.get("token_limit")),
            enforcement=_req_str(d.get("enforcement")),
            warning_threshold=_req_dec(d.get("warning_threshold", "0.8")),
            action_threshold=_req_dec(d.get("action_threshold", "0.95")),
            allow_unpriced=_bool(d.get("allow_unpriced")),
            enabled=_bool(d.get("enabled"), True),
            created_at=_dt(d.get("created_at")),
            cron=_str(d.get("cron")),
            timezone=_str(d.get("timezone")),
            provider=_str(d.get("provider")),
            model=_str(d.get("model")),
            component=_str(d.get("component")),
            task_type=_str(d.get("task_type")),
            tier=_str(d.get("tier")),
            context_id=_str(d.get("context_id")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Budget:
    """A named group of policies with a scope."""

    id: str
    name: str
    description: str | None
    owner: str | None
    scope: dict[str, str]
    policies: list[Policy]
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Budget:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            name=_req_str(d.get("name")),
            description=_str(d.get("description")),
            owner=_str(d.get("owner")),
            scope=_str_map(d.get("scope")),
            policies=[Policy.from_json(p) for p in _list(d.get("policies"))],
            created_at=_dt(d.get("created_at")),
            updated_at=_dt(d.get("updated_at")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    """Where one policy stands in the window containing the status's ``at``."""

    policy_id: str
    period: str
    enforcement: str
    window_key: str
    window_start: datetime | None
    window_end: datetime | None
    limit: Decimal | None
    settled: Decimal
    reserved: Decimal
    remaining: Decimal | None
    token_limit: int | None
    tokens_settled: int
    tokens_reserved: int
    tokens_remaining: int | None
    state: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> PolicyStatus:
        d = _obj(data)
        return cls(
            policy_id=_req_str(d.get("policy_id")),
            period=_req_str(d.get("period")),
            enforcement=_req_str(d.get("enforcement")),
            window_key=_req_str(d.get("window_key")),
            window_start=_dt(d.get("window_start")),
            window_end=_dt(d.get("window_end")),
            limit=_dec(d.get("limit")),
            settled=_req_dec(d.get("settled")),
            reserved=_req_dec(d.get("reserved")),
            remaining=_dec(d.get("remaining")),
            token_limit=_int(d.get("token_limit")),
            tokens_settled=_req_int(d.get("tokens_settled")),
            tokens_reserved=_req_int(d.get("tokens_reserved")),
            tokens_remaining=_int(d.get("tokens_remaining")),
            state=_req_str(d.get("state")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """``GET /budgets/{id}/status``: every policy's window, totals and state."""

    budget_id: str
    budget: str
    state: str
    at: datetime | None
    policies: list[PolicyStatus]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def policy(self, policy_id: str) -> PolicyStatus:
        """The status of one policy (``KeyError`` if the budget has no such policy)."""
        for p in self.policies:
            if p.policy_id == policy_id:
                return p
        raise KeyError(policy_id)

    @classmethod
    def from_json(cls, data: Any) -> BudgetStatus:
        d = _obj(data)
        return cls(
            budget_id=_req_str(d.get("budget_id")),
            budget=_req_str(d.get("budget")),
            state=_req_str(d.get("state")),
            at=_dt(d.get("at")),
            policies=[PolicyStatus.from_json(p) for p in _list(d.get("policies"))],
            raw=d,
        )


# --------------------------------------------------------------------------- allocations


@dataclass(frozen=True, slots=True)
class Allocation:
    """An allocation (a lease on budget): what it holds, what its usage cost, its status."""

    id: str
    component: str
    context_id: str | None
    provider: str
    model: str
    task_type: str | None
    tier: str | None
    priority: int
    reserved_cost: Decimal
    reserved_tokens: int
    priced: bool
    used_cost: Decimal
    used_tokens: int
    status: str
    budgets: list[str]
    created_at: datetime | None
    expires_at: datetime | None
    released_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.status == "active"

    @classmethod
    def from_json(cls, data: Any) -> Allocation:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            component=_req_str(d.get("component")),
            context_id=_str(d.get("context_id")),
            provider=_req_str(d.get("provider")),
            model=_req_str(d.get("model")),
            task_type=_str(d.get("task_type")),
            tier=_str(d.get("tier")),
            priority=_req_int(d.get("priority")),
            reserved_cost=_req_dec(d.get("reserved_cost")),
            reserved_tokens=_req_int(d.get("reserved_tokens")),
            priced=_bool(d.get("priced"), True),
            used_cost=_req_dec(d.get("used_cost")),
            used_tokens=_req_int(d.get("used_tokens")),
            status=_req_str(d.get("status")),
            budgets=[str(b) for b in _list(d.get("budgets"))],
            created_at=_dt(d.get("created_at")),
            expires_at=_dt(d.get("expires_at")),
            released_at=_dt(d.get("released_at")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class GrantedBudget:
    """A budget an allocation reserved in, and which of its policies matched."""

    budget_id: str
    budget: str
    policies: list[str]

    @classmethod
    def from_json(cls, data: Any) -> GrantedBudget:
        d = _obj(data)
        return cls(
            budget_id=_req_str(d.get("budget_id")),
            budget=_req_str(d.get("budget")),
            policies=[str(p) for p in _list(d.get("policies"))],
        )


@dataclass(frozen=True, slots=True)
class AllocationGrant:
    """The answer to ``POST /allocations`` (201): the grant and the stored allocation."""

    id: str
    status: str
    reserved_cost: Decimal
    reserved_tokens: int
    priced: bool
    expires_at: datetime | None
    budgets: list[GrantedBudget]
    allocation: Allocation
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> AllocationGrant:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            status=_req_str(d.get("status")),
            reserved_cost=_req_dec(d.get("reserved_cost")),
            reserved_tokens=_req_int(d.get("reserved_tokens")),
            priced=_bool(d.get("priced"), True),
            expires_at=_dt(d.get("expires_at")),
            budgets=[GrantedBudget.from_json(b) for b in _list(d.get("budgets"))],
            allocation=Allocation.from_json(d.get("allocation")),
            raw=d,
        )


# --------------------------------------------------------------------------- usage


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Line items of a cost, each exact; ``tier`` names the rate set that applied."""

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    output: Decimal
    reasoning: Decimal
    request: Decimal
    total: Decimal
    tier: str
    notes: list[str]

    @classmethod
    def from_json(cls, data: Any) -> CostBreakdown | None:
        if not isinstance(data, dict):
            return None
        return cls(
            input=_req_dec(data.get("input")),
            cache_read=_req_dec(data.get("cache_read")),
            cache_write=_req_dec(data.get("cache_write")),
            cache_write_1h=_req_dec(data.get("cache_write_1h")),
            output=_req_dec(data.get("output")),
            reasoning=_req_dec(data.get("reasoning")),
            request=_req_dec(data.get("request")),
            total=_req_dec(data.get("total")),
            tier=_req_str(data.get("tier")),
            notes=[str(n) for n in _list(data.get("notes"))],
        )


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One stored usage record. ``cost`` is ``None`` when the model has no known price."""

    id: str
    allocation_id: str | None
    component: str
    context_id: str | None
    provider: str
    model: str
    task_type: str | None
    tier: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost: Decimal | None
    priced: bool
    cost_breakdown: CostBreakdown | None
    price_ref: str | None
    request_id: str | None
    timestamp: datetime | None
    recorded_at: datetime | None
    metadata: Any
    budgets: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> UsageRecord:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            allocation_id=_str(d.get("allocation_id")),
            component=_req_str(d.get("component")),
            context_id=_str(d.get("context_id")),
            provider=_req_str(d.get("provider")),
            model=_req_str(d.get("model")),
            task_type=_str(d.get("task_type")),
            tier=_str(d.get("tier")),
            input_tokens=_req_int(d.get("input_tokens")),
            output_tokens=_req_int(d.get("output_tokens")),
            cache_read_tokens=_req_int(d.get("cache_read_tokens")),
            cache_write_tokens=_req_int(d.get("cache_write_tokens")),
            cache_write_1h_tokens=_req_int(d.get("cache_write_1h_tokens")),
            reasoning_tokens=_req_int(d.get("reasoning_tokens")),
            total_tokens=_req_int(d.get("total_tokens")),
            cost=_dec(d.get("cost")),
            priced=_bool(d.get("priced"), True),
            cost_breakdown=CostBreakdown.from_json(d.get("cost_breakdown")),
            price_ref=_str(d.get("price_ref")),
            request_id=_str(d.get("request_id")),
            timestamp=_dt(d.get("timestamp")),
            recorded_at=_dt(d.get("recorded_at")),
            metadata=d.get("metadata", {}),
            budgets=[str(b) for b in _list(d.get("budgets"))],
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class BudgetPolicies:
    """A budget a usage record was charged to, with the status of its matching policies."""

    budget_id: str
    budget: str
    policies: list[PolicyStatus]

    @classmethod
    def from_json(cls, data: Any) -> BudgetPolicies:
        d = _obj(data)
        return cls(
            budget_id=_req_str(d.get("budget_id")),
            budget=_req_str(d.get("budget")),
            policies=[PolicyStatus.from_json(p) for p in _list(d.get("policies"))],
        )


@dataclass(frozen=True, slots=True)
class UsageResult:
    """The answer to ``POST /usage/record``. ``created`` is False for a repeated
    ``request_id`` (the first record is returned, nothing is charged twice)."""

    id: str
    cost: Decimal | None
    priced: bool
    cost_breakdown: CostBreakdown | None
    created: bool
    budgets: list[BudgetPolicies]
    record: UsageRecord
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> UsageResult:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            cost=_dec(d.get("cost")),
            priced=_bool(d.get("priced"), True),
            cost_breakdown=CostBreakdown.from_json(d.get("cost_breakdown")),
            created=_bool(d.get("created"), True),
            budgets=[BudgetPolicies.from_json(b) for b in _list(d.get("budgets"))],
            record=UsageRecord.from_json(d.get("record")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class ImportResult:
    """One record's answer in ``POST /usage/import``: ``status`` is ``created``,
    ``already_imported``, ``invalid`` (``field`` and ``error`` say why) or, on a dry run,
    ``would_create``."""

    request_id: str
    status: str
    usage_id: str | None
    cost: Decimal | None
    field: str | None
    error: str | None
    #: ``imported:<source>`` when an import stored the record, else the price the daemon
    #: charged it at (a live record recorded earlier under the same request id).
    price_ref: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ImportResult:
        d = _obj(data)
        return cls(
            request_id=_req_str(d.get("request_id")),
            status=_req_str(d.get("status")),
            usage_id=_str(d.get("usage_id")),
            cost=_dec(d.get("cost")),
            field=_str(d.get("field")),
            error=_str(d.get("error")),
            price_ref=_str(d.get("price_ref")),
        )


@dataclass(frozen=True, slots=True)
class ImportUsageResult:
    """The answer to ``POST /usage/import``: counts, the exact cost stored, and one result
    per record in the order sent."""

    dry_run: bool
    created: int
    already_imported: int
    invalid: int
    would_create: int
    created_cost: Decimal
    results: list[ImportResult]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> ImportUsageResult:
        d = _obj(data)
        return cls(
            dry_run=_bool(d.get("dry_run")),
            created=_req_int(d.get("created")),
            already_imported=_req_int(d.get("already_imported")),
            invalid=_req_int(d.get("invalid")),
            would_create=_req_int(d.get("would_create")),
            created_cost=_req_dec(d.get("created_cost")),
            results=[ImportResult.from_json(r) for r in _list(d.get("results"))],
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class UsageRecordPage:
    """One page of ``GET /usage/records``; ``next_cursor`` is None on the last page."""

    records: list[UsageRecord]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Any) -> UsageRecordPage:
        d = _obj(data)
        return cls(
            records=[UsageRecord.from_json(r) for r in _list(d.get("records"))],
            next_cursor=_str(d.get("next_cursor")),
        )


# --------------------------------------------------------------------------- prices


@dataclass(frozen=True, slots=True)
class Estimate:
    """``POST /prices/estimate``: the cost of a usage shape; ``cost`` None when unpriced."""

    cost: Decimal | None
    priced: bool
    cost_breakdown: CostBreakdown | None
    price_ref: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Estimate:
        d = _obj(data)
        return cls(
            cost=_dec(d.get("cost")),
            priced=_bool(d.get("priced"), True),
            cost_breakdown=CostBreakdown.from_json(d.get("cost_breakdown")),
            price_ref=_str(d.get("price_ref")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Price:
    """A price in force: per-token rates (exact), limits, where it comes from."""

    provider: str
    model: str
    source: str
    price_ref: str | None
    litellm_key: str | None
    litellm_provider: str | None
    mode: str | None
    input_cost_per_token: Decimal | None
    output_cost_per_token: Decimal | None
    cache_read_input_token_cost: Decimal | None
    cache_creation_input_token_cost: Decimal | None
    cache_creation_input_token_cost_above_1hr: Decimal | None
    output_cost_per_reasoning_token: Decimal | None
    input_cost_per_request: Decimal | None
    max_input_tokens: int | None
    max_output_tokens: int | None
    thresholds: list[int]
    has_tiered_pricing: bool
    has_off_peak_pricing: bool
    manual: bool
    effective_from: datetime | None
    effective_to: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Price:
        d = _obj(data)
        return cls(
            provider=_req_str(d.get("provider")),
            model=_req_str(d.get("model")),
            source=_req_str(d.get("source")),
            price_ref=_str(d.get("price_ref")),
            litellm_key=_str(d.get("litellm_key")),
            litellm_provider=_str(d.get("litellm_provider")),
            mode=_str(d.get("mode")),
            input_cost_per_token=_dec(d.get("input_cost_per_token")),
            output_cost_per_token=_dec(d.get("output_cost_per_token")),
            cache_read_input_token_cost=_dec(d.get("cache_read_input_token_cost")),
            cache_creation_input_token_cost=_dec(d.get("cache_creation_input_token_cost")),
            cache_creation_input_token_cost_above_1hr=_dec(
                d.get("cache_creation_input_token_cost_above_1hr")
            ),
            output_cost_per_reasoning_token=_dec(d.get("output_cost_per_reasoning_token")),
            input_cost_per_request=_dec(d.get("input_cost_per_request")),
            max_input_tokens=_int(d.get("max_input_tokens")),
            max_output_tokens=_int(d.get("max_output_tokens")),
            thresholds=[_req_int(t) for t in _list(d.get("thresholds"))],
            has_tiered_pricing=_bool(d.get("has_tiered_pricing")),
            has_off_peak_pricing=_bool(d.get("has_off_peak_pricing")),
            manual=_bool(d.get("manual")),
            effective_from=_dt(d.get("effective_from")),
            effective_to=_dt(d.get("effective_to")),
            raw=d,
        )


# --------------------------------------------------------------------------- summaries & reports


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One group of ``GET /usage/summary`` (``group`` maps each key to its value)."""

    group: dict[str, str]
    records: int
    cost: Decimal
    unpriced_records: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int

    @classmethod
    def from_json(cls, data: Any) -> SummaryRow:
        d = _obj(data)
        return cls(
            group=_str_map(d.get("group")),
            records=_req_int(d.get("records")),
            cost=_req_dec(d.get("cost")),
            unpriced_records=_req_int(d.get("unpriced_records")),
            input_tokens=_req_int(d.get("input_tokens")),
            output_tokens=_req_int(d.get("output_tokens")),
            cache_read_tokens=_req_int(d.get("cache_read_tokens")),
            cache_write_tokens=_req_int(d.get("cache_write_tokens")),
            total_tokens=_req_int(d.get("total_tokens")),
        )


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """``GET /usage/summary``: rows by cost (highest first) and exact totals."""

    from_: datetime | None
    to: datetime | None
    group_by: list[str]
    rows: list[SummaryRow]
    total_cost: Decimal
    total_records: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> UsageSummary:
        d = _obj(data)
        return cls(
            from_=_dt(d.get("from")),
            to=_dt(d.get("to")),
            group_by=[str(g) for g in _list(d.get("group_by"))],
            rows=[SummaryRow.from_json(r) for r in _list(d.get("rows"))],
            total_cost=_req_dec(d.get("total_cost")),
            total_records=_req_int(d.get("total_records")),
            raw=d,
        )


_MEASURES = (
    "requests",
    "unpriced_requests",
    "cost",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "total_tokens",
    "avg_cost_per_request",
)


@dataclass(frozen=True, slots=True)
class ReportMeasures:
    """The measures of a report row or of its totals."""

    requests: int
    unpriced_requests: int
    cost: Decimal
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    total_tokens: int
    avg_cost_per_request: Decimal | None

    @classmethod
    def from_json(cls, data: Any) -> ReportMeasures:
        d = _obj(data)
        return cls(
            requests=_req_int(d.get("requests")),
            unpriced_requests=_req_int(d.get("unpriced_requests")),
            cost=_req_dec(d.get("cost")),
            input_tokens=_req_int(d.get("input_tokens")),
            output_tokens=_req_int(d.get("output_tokens")),
            cache_read_tokens=_req_int(d.get("cache_read_tokens")),
            cache_write_tokens=_req_int(d.get("cache_write_tokens")),
            cache_write_1h_tokens=_req_int(d.get("cache_write_1h_tokens")),
            reasoning_tokens=_req_int(d.get("reasoning_tokens")),
            total_tokens=_req_int(d.get("total_tokens")),
            avg_cost_per_request=_dec(d.get("avg_cost_per_request")),
        )


@dataclass(frozen=True, slots=True)
class ReportRow:
    """A row of ``GET /reports/usage``: its group values in ``keys`` (``None`` where the
    records have no value, e.g. no task type; ``bucket`` when bucketed) and its measures."""

    keys: dict[str, str | None]
    measures: ReportMeasures

    def __getitem__(self, key: str) -> str | None:
        return self.keys[key]

    @property
    def cost(self) -> Decimal:
        return self.measures.cost

    @property
    def requests(self) -> int:
        return self.measures.requests

    @property
    def total_tokens(self) -> int:
        return self.measures.total_tokens

    @classmethod
    def from_json(cls, data: Any) -> ReportRow:
        d = _obj(data)
        keys = {
            str(k): (None if v is None else str(v)) for k, v in d.items() if k not in _MEASURES
        }
        return cls(keys=keys, measures=ReportMeasures.from_json(d))


@dataclass(frozen=True, slots=True)
class UsageReport:
    """``GET /reports/usage`` (JSON): rows grouped and bucketed in the database, and totals."""

    from_: datetime | None
    to: datetime | None
    timezone: str | None
    group_by: list[str]
    bucket: str | None
    rows: list[ReportRow]
    totals: ReportMeasures
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> UsageReport:
        d = _obj(data)
        return cls(
            from_=_dt(d.get("from")),
            to=_dt(d.get("to")),
            timezone=_str(d.get("timezone")),
            group_by=[str(g) for g in _list(d.get("group_by"))],
            bucket=_str(d.get("bucket")),
            rows=[ReportRow.from_json(r) for r in _list(d.get("rows"))],
            totals=ReportMeasures.from_json(d.get("totals")),
            raw=d,
        )


# --------------------------------------------------------------------------- alerts & keys


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert (threshold crossed, allocation denied, unpriced model, price event…)."""

    id: str
    severity: str
    kind: str
    budget_id: str | None
    policy_id: str | None
    message: str
    details: dict[str, Any]
    created_at: datetime | None
    acknowledged: bool
    acknowledged_at: datetime | None = None
    dedup_key: str | None = None
    window_end: datetime | None = None
    resolved_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Alert:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            severity=_req_str(d.get("severity")),
            kind=_req_str(d.get("kind")),
            budget_id=_str(d.get("budget_id")),
            policy_id=_str(d.get("policy_id")),
            message=_req_str(d.get("message")),
            details=_obj(d.get("details")),
            created_at=_dt(d.get("created_at")),
            acknowledged=_bool(d.get("acknowledged")),
            acknowledged_at=_dt(d.get("acknowledged_at")),
            dedup_key=_str(d.get("dedup_key")),
            window_end=_dt(d.get("window_end")),
            resolved_at=_dt(d.get("resolved_at")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's public information (the secret is never shown again)."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_json(cls, data: Any) -> ApiKey:
        d = _obj(data)
        return cls(
            id=_req_str(d.get("id")),
            name=_req_str(d.get("name")),
            role=_req_str(d.get("role")),
            prefix=_req_str(d.get("prefix")),
            created_at=_dt(d.get("created_at")),
            revoked_at=_dt(d.get("revoked_at")),
        )


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """``POST /keys``: the secret (shown only here) and the key's information."""

    key: str
    info: ApiKey

    @classmethod
    def from_json(cls, data: Any) -> CreatedKey:
        d = _obj(data)
        return cls(key=_req_str(d.get("key")), info=ApiKey.from_json(d.get("info")))

