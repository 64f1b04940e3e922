"""Drop-in replacements for Rhetor's and Apollo's budget managers, backed by the daemon.

- :class:`RhetorBudgetManager` (also ``tekton_budget.compat.rhetor.BudgetManager``):
  Rhetor's dollar limits per period × provider.
- :class:`ApolloTokenBudget` (also ``tekton_budget.compat.apollo.TokenBudgetManager``):
  Apollo's token budgets per tier × period × component/task type, allocations by context.
"""

from .apollo import ApolloTokenBudget
from .rhetor import RhetorBudgetManager

__all__ = ["RhetorBudgetManager", "ApolloTokenBudget"]
