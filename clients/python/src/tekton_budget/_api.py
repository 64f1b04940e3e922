"""The REST API as data: one builder per endpoint, shared by the sync and async clients.

A builder returns a :class:`Call` (method, path, query, JSON body, and how to parse the
answer); the clients only send it. Money goes out as decimal strings, never floats.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, Generic, TypeVar
from urllib.parse import quote

from .errors import BudgetError, error_from_response
from .models import (
    Alert,
    Allocation,
    AllocationGrant,
    ApiKey,
    Budget,
    BudgetStatus,
    CreatedKey,
    Estimate,
    Policy,
    PolicySpec,
    Price,
    UsageRecord,
    UsageRecordPage,
    UsageReport,
    UsageResult,
    UsageSummary,
    ImportUsageResult,
)

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8013"
API = "/api/v1"

#: What a money argument may be. ``float`` is refused: give a ``Decimal``, an ``int`` or a
#: decimal string, so no binary rounding ever reaches a budget.
Money = Decimal | int | str
#: A time argument: an aware ``datetime`` (a naive one is taken as UTC) or an RFC 3339 string.
TimeArg = datetime | str


def resolve_base_url(base_url: str | None) -> str:
    """The argument, else ``$BUDGET_URL``, else ``http://127.0.0.1:8013``."""
    url = base_url or os.environ.get("BUDGET_URL") or DEFAULT_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """The argument, else ``$BUDGET_API_KEY`` (None: requests are sent without a key)."""
    if api_key:
        return api_key
    env = os.environ.get("BUDGET_API_KEY", "").strip()
    return env or None


# --------------------------------------------------------------------------- encoding


def money(value: Money | None) -> str | None:
    """A money argument as the decimal string sent to the daemon."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("money must be a Decimal, an int or a decimal string, not a bool")
    if isinstance(value, float):
        raise TypeError(
            "money must be a Decimal, an int or a decimal string, not a float "
            f"(got {value!r}; write Decimal({str(value)!r}))"
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"money must be finite, got {value}")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"money must be a Decimal, an int or a decimal string, got {value!r}")


def time_arg(value: TimeArg | None) -> str | None:
    """A time argument as RFC 3339 (a naive datetime is taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    raise TypeError(f"expected a datetime or an RFC 3339 string, got {value!r}")


def jsonable(value: Any) -> Any:
    """Make a body JSON-serializable: Decimal → plain decimal string, datetime → RFC 3339."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return time_arg(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def encode_body(body: Mapping[str, Any]) -> bytes:
    return json.dumps(jsonable(body), separators=(",", ":")).encode("utf-8")


def decode(content: bytes) -> Any:
    """Decode a JSON answer; any non-integer number becomes a Decimal, never a float."""
    return json.loads(content, parse_float=Decimal)


def seg(value: str) -> str:
    """One path segment (a budget name, an id), percent-encoded."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty id or name, got {value!r}")
    return quote(value, safe="")


def model_path(value: str) -> str:
    """A model name in a path: its ``/`` separators stay."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty model name, got {value!r}")
    return quote(value, safe="/@:+*")


def joined(value: str | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return ",".join(value)


def compact(**fields: Any) -> dict[str, Any]:
    """The fields that were given (None means: not given)."""
    return {k: v for k, v in fields.items() if v is not None}


def query(**fields: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in fields.items():
        if value is None:
            continue
        name = key.rstrip("_")
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[name] = time_arg(value) or ""
        else:
            out[name] = str(value)
    return out


def policy_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in spec.items() if v is not None}
    for key in ("cost_limit", "warning_threshold", "action_threshold"):
        if key in body:
            body[key] = money(body[key])
    return body


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    text: bool = False  # parse gets the body as text, not JSON

    def content(self) -> bytes | None:
        return None if self.body is None else encode_body(self.body)

    def finish(self, status: int, content: bytes, reason: str = "") -> T:
        """Parse a 2xx answer, or raise the error an error answer describes."""
        if status >= 400:
            data: Any = None
            if content:
                try:
                    data = decode(content)
                except ValueError:
                    data = None
            raise error_from_response(status, data, reason)
        if self.text:
            return self.parse(content.decode("utf-8"))
        if not content:
            return self.parse(None)
        try:
            data = decode(content)
        except ValueError as exc:
            raise BudgetError(
                f"the daemon answered {status} with a body that is not JSON",
                status=status,
                code="bad_response",
            ) from exc
        return self.parse(data)


def _none(_: Any) -> None:
    return None


def _dict(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _list_of(parse: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def parse_list(data: Any) -> list[T]:
        if isinstance(data, dict):
            # some listings are wrapped ({"channels": [...]}); take the one list inside
            lists = [v for v in data.values() if isinstance(v, list)]
            data = lists[0] if len(lists) == 1 else []
        return [parse(item) for item in (data if isinstance(data, list) else [])]

    return parse_list


def _text(data: Any) -> str:
    return str(data)


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/health", _dict)


def ready() -> Call[dict[str, Any]]:
    return Call("GET", "/ready", _dict)


# budgets ---------------------------------------------------------------------------------


def list_budgets() -> Call[list[Budget]]:
    return Call("GET", f"{API}/budgets", _list_of(Budget.from_json))


def create_budget(
    name: str,
    description: str | None,
    owner: str | None,
    scope: Mapping[str, str] | None,
    component: str | None,
    policies: Sequence[PolicySpec | Mapping[str, Any]] | None,
) -> Call[Budget]:
    body = compact(
        name=name,
        description=description,
        owner=owner,
        scope=dict(scope) if scope is not None else None,
        component=component,
        policies=[policy_body(p) for p in policies] if policies is not None else None,
    )
    return Call("POST", f"{API}/budgets", Budget.from_json, body=body)


def get_budget(budget: str) -> Call[Budget]:
    return Call("GET", f"{API}/budgets/{seg(budget)}", Budget.from_json)


def update_budget(
    budget: str,
    name: str | None,
    description: str | None,
    owner: str | None,
    scope: Mapping[str, str] | None,
) -> Call[Budget]:
    body = compact(
        name=name,
        description=description,
        owner=owner,
        scope=dict(scope) if scope is not None else None,
    )
    return Call("PATCH", f"{API}/budgets/{seg(budget)}", Budget.from_json, body=body)


def delete_budget(budget: str) -> Call[None]:
    return Call("DELETE", f"{API}/budgets/{seg(budget)}", _none)


def list_policies(budget: str) -> Call[list[Policy]]:
    return Call("GET", f"{API}/budgets/{seg(budget)}/policies", _list_of(Policy.from_json))


def add_policy(budget: str, spec: Mapping[str, Any]) -> Call[Policy]:
    return Call(
        "POST", f"{API}/budgets/{seg(budget)}/policies", Policy.from_json, body=policy_body(spec)
    )


def get_policy(policy_id: str) -> Call[Policy]:
    return Call("GET", f"{API}/policies/{seg(policy_id)}", Policy.from_json)


def update_policy(policy_id: str, changes: Mapping[str, Any]) -> Call[Policy]:
    body = policy_body(changes)
    if "clear" in body:
        body["clear"] = list(body["clear"])
    return Call("PATCH", f"{API}/policies/{seg(policy_id)}", Policy.from_json, body=body)


def delete_policy(policy_id: str) -> Call[None]:
    return Call("DELETE", f"{API}/policies/{seg(policy_id)}", _none)


def budget_status(budget: str, context_id: str | None, at: TimeArg | None) -> Call[BudgetStatus]:
    return Call(
        "GET",
        f"{API}/budgets/{seg(budget)}/status",
        BudgetStatus.from_json,
        params=query(context_id=context_id, at=time_arg(at)),
    )


# allocations -----------------------------------------------------------------------------


def allocate(
    component: str,
    provider: str,
    model: str,
    context_id: str | None,
    task_type: str | None,
    tier: str | None,
    input_tokens: int | None,
    max_output_tokens: int | None,
    amount: Money | None,
    ttl_seconds: int | None,
    priority: int | None,
    service_tier: str | None,
) -> Call[AllocationGrant]:
    body = compact(
        component=component,
        provider=provider,
        model=model,
        context_id=context_id,
        task_type=task_type,
        tier=tier,
        input_tokens=input_tokens,
        max_output_tokens=max_output_tokens,
        amount=money(amount),
        ttl_seconds=ttl_seconds,
        priority=priority,
        service_tier=service_tier,
    )
    return Call("POST", f"{API}/allocations", AllocationGrant.from_json, body=body)


def get_allocation(allocation_id: str) -> Call[Allocation]:
    return Call("GET", f"{API}/allocations/{seg(allocation_id)}", Allocation.from_json)


def list_allocations(
    context_id: str | None, status: str | None, limit: int | None
) -> Call[list[Allocation]]:
    return Call(
        "GET",
        f"{API}/allocations",
        _list_of(Allocation.from_json),
        params=query(context_id=context_id, status=status, limit=limit),
    )


def release(allocation_id: str) -> Call[Allocation]:
    return Call("POST", f"{API}/allocations/{seg(allocation_id)}/release", Allocation.from_json)


def extend_allocation(allocation_id: str, ttl_seconds: int) -> Call[Allocation]:
    return Call(
        "POST",
        f"{API}/allocations/{seg(allocation_id)}/extend",
        Allocation.from_json,
        body={"ttl_seconds": ttl_seconds},
    )


# usage -----------------------------------------------------------------------------------


def record_usage(fields: Mapping[str, Any]) -> Call[UsageResult]:
    body = compact(**fields)
    if "timestamp" in body:
        body["timestamp"] = time_arg(body["timestamp"])
    return Call("POST", f"{API}/usage/record", UsageResult.from_json, body=body)


def import_usage(source: str, records: Sequence[Mapping[str, Any]], dry_run: bool) -> Call[ImportUsageResult]:
    body_records = []
    for record in records:
        r = compact(**record)
        if "cost" in r:
            r["cost"] = money(r["cost"])
        if "timestamp" in r:
            r["timestamp"] = time_arg(r["timestamp"])
        body_records.append(r)
    body = {"source": source, "records": body_records, "dry_run": dry_run}
    return Call("POST", f"{API}/usage/import", ImportUsageResult.from_json, body=body)


def get_usage_record(record_id: str) -> Call[UsageRecord]:
    return Call("GET", f"{API}/usage/records/{seg(record_id)}", UsageRecord.from_json)


def list_usage_records(params: Mapping[str, Any]) -> Call[UsageRecordPage]:
    return Call("GET", f"{API}/usage/records", UsageRecordPage.from_json, params=query(**params))


def export_usage_records_params(params: Mapping[str, Any]) -> dict[str, str]:
    return query(format="ndjson", **params)


EXPORT_PATH = f"{API}/reports/usage/records"


def usage_summary(
    from_: TimeArg | None, to: TimeArg | None, group_by: str | Sequence[str] | None
) -> Call[UsageSummary]:
    return Call(
        "GET",
        f"{API}/usage/summary",
        UsageSummary.from_json,
        params=query(from_=time_arg(from_), to=time_arg(to), group_by=joined(group_by)),
    )


def usage_report(params: Mapping[str, Any]) -> Call[UsageReport]:
    return Call("GET", f"{API}/reports/usage", UsageReport.from_json, params=report_query(params))


def usage_report_text(fmt: str, params: Mapping[str, Any]) -> Call[str]:
    if fmt not in ("csv", "md"):
        raise ValueError(f"format must be 'csv' or 'md', got {fmt!r}")
    q = report_query(params)
    q["format"] = fmt
    return Call("GET", f"{API}/reports/usage", _text, params=q, text=True)


def report_query(params: Mapping[str, Any]) -> dict[str, str]:
    p = dict(params)
    for key in ("from_", "to"):
        if key in p:
            p[key] = time_arg(p[key])
    if "group_by" in p:
        p["group_by"] = joined(p["group_by"])
    return query(**p)


# prices ----------------------------------------------------------------------------------


def estimate(fields: Mapping[str, Any]) -> Call[Estimate]:
    body = compact(**fields)
    if "timestamp" in body:
        body["timestamp"] = time_arg(body["timestamp"])
    return Call("POST", f"{API}/prices/estimate", Estimate.from_json, body=body)


def list_prices(provider: str | None, search: str | None, limit: int | None) -> Call[list[Price]]:
    return Call(
        "GET",
        f"{API}/prices",
        _list_of(Price.from_json),
        params=query(provider=provider, search=search, limit=limit),
    )


def get_price(provider: str, model: str) -> Call[Price]:
    return Call("GET", f"{API}/prices/{seg(provider)}/{model_path(model)}", Price.from_json)


def set_price(provider: str, model: str, rates: Mapping[str, Money | None], effective_from: TimeArg | None) -> Call[Price]:
    body: dict[str, Any] = {k: money(v) for k, v in rates.items() if v is not None}
    if effective_from is not None:
        body["effective_from"] = time_arg(effective_from)
    return Call("PUT", f"{API}/prices/{seg(provider)}/{model_path(model)}", Price.from_json, body=body)


# alerts & keys ---------------------------------------------------------------------------


def list_alerts(params: Mapping[str, Any]) -> Call[list[Alert]]:
    p = dict(params)
    if "since" in p:
        p["since"] = time_arg(p["since"])
    return Call("GET", f"{API}/alerts", _list_of(Alert.from_json), params=query(**p))


def acknowledge_alert(alert_id: str) -> Call[Alert]:
    return Call("POST", f"{API}/alerts/{seg(alert_id)}/acknowledge", Alert.from_json)


def create_key(name: str, role: str) -> Call[CreatedKey]:
    return Call("POST", f"{API}/keys", CreatedKey.from_json, body={"name": name, "role": role})


def list_keys() -> Call[list[ApiKey]]:
    return Call("GET", f"{API}/keys", _list_of(ApiKey.from_json))


def revoke_key(key_id: str) -> Call[None]:
    return Call("DELETE", f"{API}/keys/{seg(key_id)}", _none)


def parse_ndjson_line(line: str) -> UsageRecord | None:
    line = line.strip()
    if not line:
        return None
    return UsageRecord.from_json(decode(line.encode("utf-8")))
