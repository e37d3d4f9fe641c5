"""The errors of a search: no architecture meets the budgets, a solver failed, nothing to ask."""

from __future__ import annotations

__all__ = ["InfeasibleBudgetError", "SearchExhausted", "SolverFailedError"]


class InfeasibleBudgetError(ValueError):
    """No architecture of the space meets the budgets; the message names what is achievable.

    Example:
        >>> err = InfeasibleBudgetError("infeasible budget", {"params_m": 0.2})
        >>> err.cheapest
        {'params_m': 0.2}
    """

    def __init__(self, message: str, cheapest: dict[str, float] | None = None):
        super().__init__(message)
        self.cheapest = cheapest or {}


class SearchExhausted(Exception):
    """Raised by ``ask`` when a solver has nothing new to propose; the search ends normally."""


class SolverFailedError(RuntimeError):
    """A solver ended without a feasible architecture although one exists (e.g. a time limit)."""
