"""budgetnas: the most accurate network that provably fits hard deployment budgets.

Importing the package is cheap: heavy dependencies (torch, scipy, optuna) are imported by the
modules that need them, when they are used.
"""

from typing import Any

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "Architecture",
    "Budget",
    "BudgetError",
    "BudgetRow",
    "InfeasibleBudgetError",
    "QuadraticForm",
    "RunConfig",
    "SearchResult",
    "TrainedSupernet",
    "__version__",
    "create_solver",
    "get_space",
    "list_solvers",
    "parse_budget",
    "run_pipeline",
]

_lazy_getattr = lazy_exports(
    __name__,
    {
        "Architecture": "budgetnas.arch",
        "Budget": "budgetnas.units",
        "BudgetError": "budgetnas.units",
        "parse_budget": "budgetnas.units",
        "InfeasibleBudgetError": "budgetnas.search.errors",
        "SearchResult": "budgetnas.search._base",
        "QuadraticForm": "budgetnas.forms",
        "create_solver": "budgetnas.search",
        "list_solvers": "budgetnas.search",
        "get_space": "budgetnas.spaces",
        "BudgetRow": "budgetnas.results",
        "RunConfig": "budgetnas.pipeline.config",
        "run_pipeline": "budgetnas.pipeline.run",
        "TrainedSupernet": "budgetnas.training.trained",
    },
)
__dir__ = lazy_dir(__name__)


def _version() -> str:
    """The installed distribution's version (pyproject.toml holds the only copy of it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("budgetnas")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # read on first use: importlib.metadata costs more than the rest of the package import
        value = globals()["__version__"] = _version()
        return value
    return _lazy_getattr(name)
