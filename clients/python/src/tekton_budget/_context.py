"""The allocation a guard holds, for code running inside it (decorated functions)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .aio import AsyncGuard
    from .client import Guard

_current_guard: ContextVar[Guard | None] = ContextVar("tekton_budget_guard", default=None)
_current_async_guard: ContextVar[AsyncGuard | None] = ContextVar(
    "tekton_budget_async_guard", default=None
)


def current_allocation() -> Guard:
    """The :class:`~tekton_budget.Guard` of the innermost ``with client.guard(...)`` block
    or ``@client.budgeted(...)`` function running now (``LookupError`` outside one)."""
    guard = _current_guard.get()
    if guard is None:
        raise LookupError("no budget guard is active here")
    return guard


def current_async_allocation() -> AsyncGuard:
    """The :class:`~tekton_budget.AsyncGuard` of the innermost ``async with`` guard or
    ``@aclient.budgeted(...)`` coroutine running now (``LookupError`` outside one)."""
    guard = _current_async_guard.get()
    if guard is None:
        raise LookupError("no async budget guard is active here")
    return guard
