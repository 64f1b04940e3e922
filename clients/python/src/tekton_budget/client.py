"""The synchronous client, :class:`BudgetClient`, and its guard."""

from __future__ import annotations

import functools
import logging
from decimal import Decimal
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable, Literal, ParamSpec, TypeVar

import httpx

from . import _api
from ._api import Money, TimeArg
from ._context import _current_guard
from .errors import BudgetError, TransportError
from .models import (
    Alert,
    ImportUsageResult,
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
)

__all__ = ["BudgetClient", "Guard"]

log = logging.getLogger("tekton_budget")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Extracts the usage to record from a decorated function's result: a mapping of
#: :meth:`Guard.record` keyword arguments (``{"input_tokens": 1800, "output_tokens": 640}``
#: or ``{"usage": openai_usage_dict}``), or None to record nothing.
UsageExtractor = Callable[[Any], "Mapping[str, Any] | None"]


class BudgetClient:
    """Synchronous client of the Tekton Budget REST API (``/api/v1``).

    ``base_url`` defaults to ``$BUDGET_URL``, else ``http://127.0.0.1:8013``; ``api_key`` to
    ``$BUDGET_API_KEY``. Pass ``http_client`` to bring your own :class:`httpx.Client`
    (its base URL and headers are then yours to set). Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = _api.resolve_base_url(base_url)
        self.api_key = _api.resolve_api_key(api_key)
        hdrs = {"Accept": "application/json", "User-Agent": "tekton-budget-python/0.1.0"}
        if self.api_key:
            hdrs["Authorization"] = f"Bearer {self.api_key}"
        hdrs.update(headers or {})
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            base_url=self.base_url, headers=hdrs, timeout=timeout
        )

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> BudgetClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BudgetClient(base_url={self.base_url!r})"

    def _run(self, call: _api.Call[T]) -> T:
        content = call.content()
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise TransportError(
                f"{call.method} {call.path}: {exc}", code="transport_error"
            ) from exc
        return call.finish(response.status_code, response.content, response.reason_phrase)

    # ------------------------------------------------------------------ open endpoints

    def health(self) -> dict[str, Any]:
        """``GET /health``: ``{"component", "status", "version"}``."""
        return self._run(_api.health())

    def ready(self) -> dict[str, Any]:
        """``GET /ready``: ``{"status": "ready", "storage": ...}`` (503 → :class:`Unavailable`)."""
        return self._run(_api.ready())

    # ------------------------------------------------------------------ budgets & policies

    def list_budgets(self) -> list[Budget]:
        """All budgets, sorted by name."""
        return self._run(_api.list_budgets())

    def create_budget(
        self,
        name: str,
        *,
        description: str | None = None,
        owner: str | None = None,
        scope: Mapping[str, str] | None = None,
        component: str | None = None,
        policies: Sequence[PolicySpec | Mapping[str, Any]] | None = None,
    ) -> Budget:
        """Create a budget, with its policies (``Conflict`` if the name is taken)."""
        return self._run(_api.create_budget(name, description, owner, scope, component, policies))

    def get_budget(self, budget: str) -> Budget:
        """One budget, by id or name."""
        return self._run(_api.get_budget(budget))

    def update_budget(
        self,
        budget: str,
        *,
        name: str | None = None,
        description: str | None = None,
        owner: str | None = None,
        scope: Mapping[str, str] | None = None,
    ) -> Budget:
        """Rename, describe, change owner or scope (a scope replaces the whole scope)."""
        return self._run(_api.update_budget(budget, name, description, owner, scope))

    def delete_budget(self, budget: str) -> None:
        """Delete a budget, its policies and what its allocations hold."""
        self._run(_api.delete_budget(budget))

    def list_policies(self, budget: str) -> list[Policy]:
        """A budget's policies, in creation order."""
        return self._run(_api.list_policies(budget))

    def add_policy(
        self,
        budget: str,
        *,
        period: str,
        cost_limit: Money | None = None,
        token_limit: int | None = None,
        enforcement: str | None = None,
        warning_threshold: Money | None = None,
        action_threshold: Money | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        component: str | None = None,
        task_type: str | None = None,
        tier: str | None = None,
        context_id: str | None = None,
        allow_unpriced: bool | None = None,
        enabled: bool | None = None,
    ) -> Policy:
        """Add a policy to a budget (``POST /budgets/{id}/policies``)."""
        spec = dict(
            period=period,
            cost_limit=cost_limit,
            token_limit=token_limit,
            enforcement=enforcement,
            warning_threshold=warning_threshold,
            action_threshold=action_threshold,
            cron=cron,
            timezone=timezone,
            provider=provider,
            model=model,
            component=component,
            task_type=task_type,
            tier=tier,
            context_id=context_id,
            allow_unpriced=allow_unpriced,
            enabled=enabled,
        )
        return self._run(_api.add_policy(budget, spec))

    def get_policy(self, policy_id: str) -> Policy:
        return self._run(_api.get_policy(policy_id))

    def update_policy(
        self,
        policy_id: str,
        *,
        period: str | None = None,
        cost_limit: Money | None = None,
        token_limit: int | None = None,
        enforcement: str | None = None,
        warning_threshold: Money | None = None,
        action_threshold: Money | None = None,
        cron: str | None = None,
        timezone: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        component: str | None = None,
        task_type: str | None = None,
        tier: str | None = None,
        context_id: str | None = None,
        allow_unpriced: bool | None = None,
        enabled: bool | None = None,
        clear: Sequence[str] | None = None,
    ) -> Policy:
        """Change a policy; omitted fields stay. ``clear`` removes limits or filters
        (``clear=["cost_limit"]``)."""
        changes = dict(
            period=period,
            cost_limit=cost_limit,
            token_limit=token_limit,
            enforcement=enforcement,
            warning_threshold=warning_threshold,
            action_threshold=action_threshold,
            cron=cron,
            timezone=timezone,
            provider=provider,
            model=model,
            component=component,
            task_type=task_type,
            tier=tier,
            context_id=context_id,
            allow_unpriced=allow_unpriced,
            enabled=enabled,
            clear=clear,
        )
        return self._run(_api.update_policy(policy_id, changes))

    def delete_policy(self, policy_id: str) -> None:
        self._run(_api.delete_policy(policy_id))

    def budget_status(
        self, budget: str, *, context_id: str | None = None, at: TimeArg | None = None
    ) -> BudgetStatus:
        """Where each policy of a budget stands (``context_id`` picks the per-session window,
        ``at`` the windows containing that moment)."""
        return self._run(_api.budget_status(budget, context_id, at))

    # ------------------------------------------------------------------ allocations

    def allocate(
        self,
        *,
        component: str,
        provider: str,
        model: str,
        context_id: str | None = None,
        task_type: str | None = None,
        tier: str | None = None,
        input_tokens: int | None = None,
        max_output_tokens: int | None = None,
        amount: Money | None = None,
        ttl_seconds: int | None = None,
        priority: int | None = None,
        service_tier: str | None = None,
    ) -> AllocationGrant:
        """Reserve before a call. Raises :class:`BudgetExceeded` (402) when a hard limit
        (or an unpriced model under a hard cost policy) refuses it."""
        return self._run(
            _api.allocate(
                component,
                provider,
                model,
                context_id,
                task_type,
                tier,
                input_tokens,
                max_output_tokens,
                amount,
                ttl_seconds,
                priority,
                service_tier,
            )
        )

    def get_allocation(self, allocation_id: str) -> Allocation:
        return self._run(_api.get_allocation(allocation_id))

    def list_allocations(
        self,
        *,
        context_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Allocation]:
        """Allocations, newest first (``status``: active, released, expired)."""
        return self._run(_api.list_allocations(context_id, status, limit))

    def release(self, allocation_id: str) -> Allocation:
        """Give back what an allocation still holds (a no-op when released or expired)."""
        return self._run(_api.release(allocation_id))

    def extend_allocation(self, allocation_id: str, ttl_seconds: int) -> Allocation:
        """A new lease of ``ttl_seconds`` from now for an active allocation whose call runs
        long. Raises :class:`Conflict` (409) when it is released or its lease ran out."""
        return self._run(_api.extend_allocation(allocation_id, ttl_seconds))

    # ------------------------------------------------------------------ usage

    def record_usage(
        self,
        *,
        allocation_id: str | None = None,
        component: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        context_id: str | None = None,
        task_type: str | None = None,
        tier: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cache_write_1h_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        usage: Mapping[str, Any] | None = None,
        service_tier: str | None = None,
        request_id: str | None = None,
        timestamp: TimeArg | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> UsageResult:
        """Record what a call used; the daemon prices it exactly. With ``allocation_id``
        the other identifiers default to the allocation's. A repeated ``request_id``
        returns the first record (``created`` False) and charges nothing twice."""
        fields = dict(
            allocation_id=allocation_id,
            component=component,
            provider=provider,
            model=model,
            context_id=context_id,
            task_type=task_type,
            tier=tier,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            reasoning_tokens=reasoning_tokens,
            usage=dict(usage) if usage is not None else None,
            service_tier=service_tier,
            request_id=request_id,
            timestamp=timestamp,
            metadata=dict(metadata) if metadata is not None else None,
        )
        return self._run(_api.record_usage(fields))

    def import_usage(
        self,
        source: str,
        records: Sequence[Mapping[str, Any]],
        *,
        dry_run: bool = False,
    ) -> ImportUsageResult:
        """Import usage recorded elsewhere, keeping each record's ``cost`` (admin key):
        ``POST /usage/import``. Each record needs ``request_id`` (its idempotency key),
        ``component``, ``provider``, ``model``, ``timestamp`` and token counts. A record
        the daemon refuses is answered ``invalid`` in its result; the others are stored."""
        return self._run(_api.import_usage(source, records, dry_run))

    def get_usage_record(self, record_id: str) -> UsageRecord:
        return self._run(_api.get_usage_record(record_id))

    def list_usage_records(
        self,
        *,
        from_: TimeArg | None = None,
        to: TimeArg | None = None,
        provider: str | None = None,
        model: str | None = None,
        component: str | None = None,
        context_id: str | None = None,
        task_type: str | None = None,
        allocation_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> UsageRecordPage:
        """One page of usage records, oldest first; pass ``next_cursor`` on."""
        params = dict(
            from_=_api.time_arg(from_),
            to=_api.time_arg(to),
            provider=provider,
            model=model,
            component=component,
            context_id=context_id,
            task_type=task_type,
            allocation_id=allocation_id,
            limit=limit,
            cursor=cursor,
        )
        return self._run(_api.list_usage_records(params))

    def iter_usage_records(
        self,
        *,
        from_: TimeArg | None = None,
        to: TimeArg | None = None,
        provider: str | None = None,
        model: str | None = None,
        component: str | None = None,
        context_id: str | None = None,
        task_type: str | None = None,
        allocation_id: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[UsageRecord]:
        """Every matching usage record, following the cursor page by page."""
        cursor: str | None = None
        while True:
            page = self.list_usage_records(
                from_=from_,
                to=to,
                provider=provider,
                model=model,
                component=component,
                context_id=context_id,
                task_type=task_type,
                allocation_id=allocation_id,
                limit=page_size,
                cursor=cursor,
            )
            yield from page.records
            if page.next_cursor is None or not page.records:
                return
            cursor = page.next_cursor

    def export_usage_records(
        self,
        *,
        from_: TimeArg | None = None,
        to: TimeArg | None = None,
        budget: str | None = None,
        component: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        task_type: str | None = None,
        context_id: str | None = None,
        tier: str | None = None,
    ) -> Iterator[UsageRecord]:
        """Every record in range, streamed (``GET /reports/usage/records?format=ndjson``);
        ``budget`` keeps the records counted against that budget."""
        params = _api.export_usage_records_params(
            dict(
                from_=_api.time_arg(from_),
                to=_api.time_arg(to),
                budget=budget,
                component=component,
                provider=provider,
                model=model,
                task_type=task_type,
                context_id=context_id,
                tier=tier,
            )
        )
        try:
            with self._http.stream("GET", _api.EXPORT_PATH, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    call: _api.Call[None] = _api.Call("GET", _api.EXPORT_PATH, lambda _: None)
                    call.finish(response.status_code, response.content, response.reason_phrase)
                for line in response.iter_lines():
                    record = _api.parse_ndjson_line(line)
                    if record is not None:
                        yield record
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {_api.EXPORT_PATH}: {exc}", code="transport_error") from exc

    def usage_summary(
        self,
        *,
        from_: TimeArg | None = None,
        to: TimeArg | None = None,
        group_by: str | Sequence[str] | None = None,
    ) -> UsageSummary:
        """Totals grouped by up to seven keys (``GET /usage/summary``)."""
        return self._run(_api.usage_summary(from_, to, group_by))

    def usage_report(
        self,
        *,
        from_: TimeArg | None = None,
        to: TimeArg | None = None,
        budget: str | None = None,
        component: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        task_type: str | None = None,
        context_id: str | None = None,
        tier: str | None = None,
        group_by: str | Sequence[str] | None = None,
        bucket: str | None = None,
        tz: str | None = None,
        top: int | None = None,
    ) -> UsageReport:
        """Usage grouped and bucketed in the database (``GET /reports/usage``, JSON).
        Without ``from_``/``to`` the daemon reports the last 30 days."""
        params = dict(
            from_=from_,
            to=to,
            budget=budget,
            component=component,
            provider=provider,
            model=model,
            task_type=task_type,
            context_id=context_id,
            tier=tier,
            group_by=group_by,
            bucket=bucket,
            tz=tz,
            top=top,
        )
        return self._run(_api.usage_report(params))

    def usage_report_text(
        self,
        format: Literal["csv", "md"],
        *,
        from_: TimeArg | None = None,
        to: TimeArg | None = None,
        budget: str | None = None,
        component: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        task_type: str | None = None,
        context_id: str | None = None,
        tier: str | None = None,
        group_by: str | Sequence[str] | None = None,
        bucket: str | None = None,
        tz: str | None = None,
        top: int | None = None,
    ) -> str:
        """The same report as CSV (a last ``TOTAL`` line) or Markdown, as text."""
        params = dict(
            from_=from_,
            to=to,
            budget=budget,
            component=component,
            provider=provider,
            model=model,
            task_type=task_type,
            context_id=context_id,
            tier=tier,
            group_by=group_by,
            bucket=bucket,
            tz=tz,
            top=top,
        )
        return self._run(_api.usage_report_text(format, params))

    # ------------------------------------------------------------------ prices

    def estimate(
        self,
        *,
        provider: str,
        model: str,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cache_write_1h_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        usage: Mapping[str, Any] | None = None,
        service_tier: str | None = None,
        timestamp: TimeArg | None = None,
    ) -> Estimate:
        """The exact cost of a usage shape, recording nothing (``cost`` None if unpriced)."""
        fields = dict(
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            reasoning_tokens=reasoning_tokens,
            usage=dict(usage) if usage is not None else None,
            service_tier=service_tier,
            timestamp=timestamp,
        )
        return self._run(_api.estimate(fields))

    def list_prices(
        self,
        *,
        provider: str | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[Price]:
        """Prices in force now (``provider`` filter, ``search`` substring of the model)."""
        return self._run(_api.list_prices(provider, search, limit))

    def get_price(self, provider: str, model: str) -> Price:
        """The price in force now (``NotFound`` when none is known)."""
        return self._run(_api.get_price(provider, model))

    def set_price(
        self,
        provider: str,
        model: str,
        *,
        input_cost_per_token: Money | None = None,
        output_cost_per_token: Money | None = None,
        input_cost_per_million: Money | None = None,
        output_cost_per_million: Money | None = None,
        cache_read_input_token_cost: Money | None = None,
        cache_creation_input_token_cost: Money | None = None,
        cache_read_input_cost_per_million: Money | None = None,
        cache_creation_input_cost_per_million: Money | None = None,
        effective_from: TimeArg | None = None,
    ) -> Price:
        """Set a manual price (admin key): a new version from ``effective_from`` (now)."""
        rates = dict(
            input_cost_per_token=input_cost_per_token,
            output_cost_per_token=output_cost_per_token,
            input_cost_per_million=input_cost_per_million,
            output_cost_per_million=output_cost_per_million,
            cache_read_input_token_cost=cache_read_input_token_cost,
            cache_creation_input_token_cost=cache_creation_input_token_cost,
            cache_read_input_cost_per_million=cache_read_input_cost_per_million,
            cache_creation_input_cost_per_million=cache_creation_input_cost_per_million,
        )
        return self._run(_api.set_price(provider, model, rates, effective_from))

    # ------------------------------------------------------------------ alerts & keys

    def list_alerts(
        self,
        *,
        kind: str | None = None,
        severity: str | None = None,
        budget: str | None = None,
        acknowledged: bool | None = None,
        since: TimeArg | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Recent alerts, newest first."""
        params = dict(
            kind=kind,
            severity=severity,
            budget=budget,
            acknowledged=acknowledged,
            since=since,
            limit=limit,
        )
        return self._run(_api.list_alerts(params))

    def acknowledge_alert(self, alert_id: str) -> Alert:
        return self._run(_api.acknowledge_alert(alert_id))

    def create_key(self, name: str, role: Literal["read", "write", "admin"]) -> CreatedKey:
        """Create an API key (admin); the secret is in the answer only."""
        return self._run(_api.create_key(name, role))

    def list_keys(self) -> list[ApiKey]:
        return self._run(_api.list_keys())

    def revoke_key(self, key_id: str) -> None:
        self._run(_api.revoke_key(key_id))

    # ------------------------------------------------------------------ guard & decorator

    def guard(
        self,
        *,
        component: str,
        provider: str,
        model: str,
        context_id: str | None = None,
        task_type: str | None = None,
        tier: str | None = None,
        input_tokens: int | None = None,
        max_output_tokens: int | None = None,
        amount: Money | None = None,
        ttl_seconds: int | None = None,
        priority: int | None = None,
        service_tier: str | None = None,
    ) -> Guard:
        """A context manager around one LLM call: allocates on entry (raising
        :class:`BudgetExceeded` before the block runs if denied), lets the block record
        usage with :meth:`Guard.record`, and releases what is still held on exit — on
        success, on an exception (which is re-raised), and when nothing was recorded."""
        return Guard(
            self,
            dict(
                component=component,
                provider=provider,
                model=model,
                context_id=context_id,
                task_type=task_type,
                tier=tier,
                input_tokens=input_tokens,
                max_output_tokens=max_output_tokens,
                amount=amount,
                ttl_seconds=ttl_seconds,
                priority=priority,
                service_tier=service_tier,
            ),
        )

    def budgeted(
        self,
        *,
        component: str,
        provider: str,
        model: str,
        context_id: str | None = None,
        task_type: str | None = None,
        tier: str | None = None,
        input_tokens: int | None = None,
        max_output_tokens: int | None = None,
        amount: Money | None = None,
        ttl_seconds: int | None = None,
        priority: int | None = None,
        service_tier: str | None = None,
        usage: UsageExtractor | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: each call of the function runs inside :meth:`guard`. The function
        records through :func:`tekton_budget.current_allocation` (``.record(...)``), or
        ``usage`` extracts the usage from its return value; an exception releases the
        allocation and propagates."""

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.guard(
                    component=component,
                    provider=provider,
                    model=model,
                    context_id=context_id,
                    task_type=task_type,
                    tier=tier,
                    input_tokens=input_tokens,
                    max_output_tokens=max_output_tokens,
                    amount=amount,
                    ttl_seconds=ttl_seconds,
                    priority=priority,
                    service_tier=service_tier,
                ) as guard:
                    result = fn(*args, **kwargs)
                    if usage is not None and not guard.recorded:
                        fields = usage(result)
                        if fields:
                            guard.record(**fields)
                    return result

            return wrapper

        return decorate


class Guard:
    """What ``with client.guard(...) as alloc`` yields: the granted allocation, and
    :meth:`record` to report what the call used."""

    def __init__(self, client: BudgetClient, request: dict[str, Any]) -> None:
        self._client = client
        self._request = request
        self._grant: AllocationGrant | None = None
        self._token: Any = None
        self.results: list[UsageResult] = []
        #: The allocation as released on exit (None until then).
        self.released: Allocation | None = None

    # the allocation ---------------------------------------------------------------

    @property
    def grant(self) -> AllocationGrant:
        if self._grant is None:
            raise RuntimeError("the guard has not allocated yet: use it in a with block")
        return self._grant

    @property
    def id(self) -> str:
        """The allocation id."""
        return self.grant.id

    @property
    def reserved_cost(self) -> Decimal:
        return self.grant.reserved_cost

    @property
    def recorded(self) -> bool:
        """Whether usage has been recorded in this guard."""
        return bool(self.results)

    @property
    def result(self) -> UsageResult | None:
        """The last usage recorded (None if none)."""
        return self.results[-1] if self.results else None

    def refresh(self) -> Allocation:
        """The allocation as the daemon has it now."""
        return self._client.get_allocation(self.id)

    def record(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cache_write_1h_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        usage: Mapping[str, Any] | None = None,
        service_tier: str | None = None,
        request_id: str | None = None,
        timestamp: TimeArg | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> UsageResult:
        """Record usage against this allocation now (may be called several times for a
        multi-step call) and return the priced record."""
        result = self._client.record_usage(
            allocation_id=self.id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            reasoning_tokens=reasoning_tokens,
            usage=usage,
            service_tier=service_tier,
            request_id=request_id,
            timestamp=timestamp,
            metadata=metadata,
        )
        self.results.append(result)
        return result

    # context manager -----------------------------------------------------------------

    def __enter__(self) -> Guard:
        if self._grant is not None:
            raise RuntimeError("a guard allocates once; create a new one per call")
        self._grant = self._client.allocate(**self._request)
        self._token = _current_guard.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current_guard.reset(self._token)
            self._token = None
        if self._grant is None:
            return
        if exc is None:
            self.released = self._client.release(self.id)
            return
        try:
            self.released = self._client.release(self.id)
        except BudgetError as release_error:  # the call's own exception matters more
            log.warning("could not release allocation %s: %s", self.id, release_error)

    def __repr__(self) -> str:
        state = "pending" if self._grant is None else self._grant.id
        return f"Guard({state}, recorded={len(self.results)})"
