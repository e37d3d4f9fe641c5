"""Constrained search: solvers built by name (``create_solver("milp")``), all hard-constrained.

Importing the package is cheap: the problem and result types, and every solver module (with
scipy or optuna), are imported when first used.

Example:
    >>> from budgetnas.search import create_solver, list_solvers
    >>> "milp" in list_solvers()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from budgetnas.lazy import lazy_dir, lazy_exports
from budgetnas.registry import Registry

if TYPE_CHECKING:
    from budgetnas.search._base import Solver

SOLVERS: Registry[Solver] = Registry(
    "solver",
    modules=[
        "budgetnas.search.milp",
        "budgetnas.search.exhaustive",
        "budgetnas.search.frank_wolfe",
        "budgetnas.search.hardcore",
        "budgetnas.search.random",
        "budgetnas.search.evolution",
        "budgetnas.search.local",
        "budgetnas.search.optuna",
        "budgetnas.search.bananas",
        "budgetnas.search.iqnas",
        "budgetnas.search.interleaved",
    ],
)
register_solver = SOLVERS.register


def create_solver(name: str, **kwargs) -> Solver:
    """Build the solver registered as ``name`` with its keyword arguments."""
    return SOLVERS.create(name, **kwargs)


def list_solvers() -> list[str]:
    """The names of every registered solver."""
    return SOLVERS.names()


__getattr__ = lazy_exports(
    __name__,
    {
        "InfeasibleBudgetError": "budgetnas.search.errors",
        "SearchExhausted": "budgetnas.search.errors",
        "SolverFailedError": "budgetnas.search.errors",
        "Problem": "budgetnas.search._base",
        "QuerySolver": "budgetnas.search._base",
        "SearchResult": "budgetnas.search._base",
        "Solver": "budgetnas.search._base",
    },
)
__dir__ = lazy_dir(__name__)


__all__ = [
    "SOLVERS",
    "InfeasibleBudgetError",
    "Problem",
    "QuerySolver",
    "SearchExhausted",
    "SearchResult",
    "Solver",
    "SolverFailedError",
    "create_solver",
    "list_solvers",
    "register_solver",
]
