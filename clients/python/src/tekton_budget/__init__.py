"""Python client of Tekton Budget.

>>> from tekton_budget import BudgetClient
>>> with BudgetClient() as client:          # $BUDGET_URL, $BUDGET_API_KEY
...     status = client.budget_status("rhetor")

Money is :class:`decimal.Decimal` everywhere; errors are :class:`BudgetError` subclasses.
The Rhetor and Apollo drop-ins live in :mod:`tekton_budget.compat`.
"""

from ._api import DEFAULT_URL, Money, TimeArg
from ._context import current_allocation, current_async_allocation
from .aio import AsyncBudgetClient, AsyncGuard
from .client import BudgetClient, Guard, UsageExtractor
from .errors import (
    BudgetError,
    BudgetExceeded,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServerError,
    TransportError,
    Unauthorized,
    Unavailable,
)
from .models import (
    Alert,
    Allocation,
    AllocationGrant,
    ApiKey,
    Budget,
    BudgetPolicies,
    BudgetStatus,
    CostBreakdown,
    CreatedKey,
    Estimate,
    GrantedBudget,
    Policy,
    PolicySpec,
    PolicyStatus,
    Price,
    ReportMeasures,
    ReportRow,
    SummaryRow,
    UsageRecord,
    UsageRecordPage,
    UsageReport,
    UsageResult,
    ImportResult,
    ImportUsageResult,
    UsageSummary,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "Money",
    "TimeArg",
    "BudgetClient",
    "AsyncBudgetClient",
    "Guard",
    "AsyncGuard",
    "UsageExtractor",
    "current_allocation",
    "current_async_allocation",
    "BudgetError",
    "BudgetExceeded",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "Alert",
    "Allocation",
    "AllocationGrant",
    "ApiKey",
    "Budget",
    "BudgetPolicies",
    "BudgetStatus",
    "CostBreakdown",
    "CreatedKey",
    "Estimate",
    "GrantedBudget",
    "Policy",
    "PolicySpec",
    "PolicyStatus",
    "Price",
    "ReportMeasures",
    "ReportRow",
    "SummaryRow",
    "UsageRecord",
    "UsageRecordPage",
    "UsageReport",
    "UsageResult",
    "ImportResult",
    "ImportUsageResult",
    "UsageSummary",
    "__version__",
]
