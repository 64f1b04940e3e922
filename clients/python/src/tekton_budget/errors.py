"""Exceptions raised by the clients.

Every error answer of the daemon has the shape
``{"error": {"code": "...", "message": "...", "details": {...}}}``; it becomes one of the
exceptions below, carrying ``status`` (the HTTP status), ``code``, ``message`` and
``details`` as the server sent them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

__all__ = [
    "BudgetError",
    "TransportError",
    "InvalidRequest",
    "Unauthorized",
    "BudgetExceeded",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "ServerError",
    "Unavailable",
    "error_from_response",
]


class BudgetError(Exception):
    """Base class of every error of this package.

    ``status`` is the HTTP status (``None`` when no answer arrived), ``code`` the server's
    error code (``budget_exceeded``, ``invalid_request``, …), ``message`` its text and
    ``details`` its ``details`` object (``{}`` when it sent none).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        prefix = f"[{self.status} {self.code}] " if self.status is not None else f"[{self.code}] "
        return prefix + self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, details={self.details!r})"
        )


class TransportError(BudgetError):
    """The daemon could not be reached or did not answer (connection refused, timeout)."""


class InvalidRequest(BudgetError):
    """400: a field is missing, malformed or out of range; ``field`` names it (``""`` or
    ``None`` when the server could not say which)."""

    @property
    def field(self) -> str | None:
        value = self.details.get("field")
        return value if isinstance(value, str) else None


class Unauthorized(BudgetError):
    """401: no API key, or an unknown or revoked one."""


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, str)):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


class BudgetExceeded(BudgetError):
    """402: an allocation was denied by a hard limit (``reason == "limit"``) or because the
    model has no known price (``reason == "unpriced_model"``).

    ``limit``, ``remaining`` and ``requested`` are :class:`~decimal.Decimal`: dollars when
    ``limit_kind == "cost"``, token counts when ``limit_kind == "tokens"``. ``requested`` is
    ``None`` for an unpriced model.
    """

    @property
    def reason(self) -> str | None:
        value = self.details.get("reason")
        return value if isinstance(value, str) else None

    @property
    def budget(self) -> str | None:
        value = self.details.get("budget")
        return value if isinstance(value, str) else None

    @property
    def budget_id(self) -> str | None:
        value = self.details.get("budget_id")
        return value if isinstance(value, str) else None

    @property
    def policy(self) -> str | None:
        value = self.details.get("policy")
        return value if isinstance(value, str) else None

    @property
    def period(self) -> str | None:
        value = self.details.get("period")
        return value if isinstance(value, str) else None

    @property
    def limit_kind(self) -> str | None:
        value = self.details.get("limit_kind")
        return value if isinstance(value, str) else None

    @property
    def limit(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("limit"))

    @property
    def remaining(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("remaining"))

    @property
    def requested(self) -> Decimal | None:
        return _decimal_or_none(self.details.get("requested"))

    @property
    def provider(self) -> str | None:
        value = self.details.get("provider")
        return value if isinstance(value, str) else None

    @property
    def model(self) -> str | None:
        value = self.details.get("model")
        return value if isinstance(value, str) else None


class Forbidden(BudgetError):
    """403: the key's role is too low for this request."""


class NotFound(BudgetError):
    """404: unknown id, name or route. ``resource`` and ``id`` come from details."""

    @property
    def resource(self) -> str | None:
        value = self.details.get("resource")
        return value if isinstance(value, str) else None

    @property
    def id(self) -> str | None:
        value = self.details.get("id")
        return value if isinstance(value, str) else None


class Conflict(BudgetError):
    """409: a budget name that exists already, a pending price change decided already."""


class PayloadTooLarge(BudgetError):
    """413: the request body is larger than the daemon accepts."""


class ServerError(BudgetError):
    """5xx: the daemon's own fault (``storage_error``, ``internal_error``)."""


class Unavailable(ServerError):
    """503: a budget's actor could not be reached, or the daemon is not ready."""


_BY_STATUS: dict[int, type[BudgetError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    402: BudgetExceeded,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    503: Unavailable,
}

_EMPTY_BODY_CODES = {
    405: "method_not_allowed",
    408: "request_timeout",
}


def error_from_response(status: int, body: Any, reason: str = "") -> BudgetError:
    """Build the exception for an error answer (``body`` is the decoded JSON, or None)."""
    code = _EMPTY_BODY_CODES.get(status, "error")
    message = reason or f"HTTP {status}"
    details: Mapping[str, Any] = {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        if isinstance(err.get("code"), str):
            code = err["code"]
        if isinstance(err.get("message"), str):
            message = err["message"]
        if isinstance(err.get("details"), dict):
            details = err["details"]
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else BudgetError
    return cls(message, status=status, code=code, details=details)
