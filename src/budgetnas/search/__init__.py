"""Constrained search: solvers built by name (``create_solver("milp")``), all hard-constrained."""

from __future__ import annotations

from budgetnas.registry import Registry
from budgetnas.search._base import (
    InfeasibleBudgetError,
    Problem,
    QuerySolver,
    SearchResult,
    Solver,
    SolverFailedError,
)

SOLVERS: Registry[Solver] = Registry(
    "solver",
    modules=[
        "budgetnas.search.milp",
        "budgetnas.search.exhaustive",
        "budgetnas.search.frank_wolfe",
        "budgetnas.search.hardcore",
        "budgetnas.search.random",
        "budgetnas.search.evolution",
        "budgetnas.search.optuna",
        "budgetnas.search.iqnas",
    ],
)
register_solver = SOLVERS.register


def create_solver(name: str, **kwargs) -> Solver:
    """Build the solver registered as ``name`` with its keyword arguments."""
    return SOLVERS.create(name, **kwargs)


def list_solvers() -> list[str]:
    return SOLVERS.names()


__all__ = [
    "SOLVERS",
    "InfeasibleBudgetError",
    "Problem",
    "QuerySolver",
    "SearchResult",
    "Solver",
    "SolverFailedError",
    "create_solver",
    "list_solvers",
    "register_solver",
]
