"""Helpers shared by the drop-ins."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..client import BudgetClient
from ..errors import Conflict, NotFound
from ..models import Budget, Price, UsageReport


def to_decimal(value: Any) -> Decimal:
    """A limit given the way the originals give it (float, int, str, Decimal) as a Decimal.

    A float goes through its shortest repr (``0.1`` → ``Decimal("0.1")``), never through its
    binary expansion."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise TypeError(f"expected a number, got {value!r}")


def to_float(value: Decimal | None) -> float:
    """The originals return floats; ``None`` (unpriced) reads as 0.0."""
    return 0.0 if value is None else float(value)


def aware(value: datetime, tz: tzinfo) -> datetime:
    """The originals use naive local datetimes; a naive one is read in ``tz``."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def zone(name: str) -> tzinfo:
    return timezone.utc if name.upper() == "UTC" else ZoneInfo(name)


def period_window(period: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of the daily/weekly (Monday)/monthly/hourly window containing ``now``
    (an aware datetime, in the zone the windows align to)."""
    if period == "hourly":
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "monthly":
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
            month=start.month + 1
        )
        return start, end
    raise ValueError(f"'{period}' is not a calendar period")


def ensure_budget(
    client: BudgetClient,
    name: str,
    *,
    description: str,
    owner: str,
    scope: Mapping[str, str] | None,
) -> tuple[Budget, bool]:
    """The budget named ``name``, created when missing. Returns (budget, created)."""
    try:
        return client.get_budget(name), False
    except NotFound:
        pass
    try:
        return (
            client.create_budget(
                name, description=description, owner=owner, scope=dict(scope or {})
            ),
            True,
        )
    except Conflict:  # created meanwhile by another process
        return client.get_budget(name), False


class PriceCache:
    """Prices looked up in the daemon, kept for ``ttl`` seconds (None: no known price)."""

    def __init__(self, client: BudgetClient, ttl: float = 60.0) -> None:
        self._client = client
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, Price | None]] = {}

    def get(self, provider: str, model: str) -> Price | None:
        key = (provider, model)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        try:
            price: Price | None = self._client.get_price(provider, model)
        except NotFound:
            price = None
        with self._lock:
            self._entries[key] = (now, price)
        return price

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def scoped_report(
    client: BudgetClient,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str],
    group_by: str | None = None,
) -> UsageReport:
    """``GET /reports/usage`` over ``[start, end)`` with a scope's filters."""
    return client.usage_report(
        from_=start,
        to=end,
        component=filters.get("component"),
        provider=filters.get("provider"),
        model=filters.get("model"),
        task_type=filters.get("task_type"),
        context_id=filters.get("context_id"),
        tier=filters.get("tier"),
        group_by=group_by,
    )
