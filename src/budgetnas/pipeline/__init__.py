"""From a predictor to a shipped network: search under hard budgets, the closed loop on the
device, and the one-command pipeline (``budgetnas run``). Imports no torch at import time."""

from budgetnas.pipeline.search import (
    BudgetNotMetError,
    LoopResult,
    build_constraints,
    closed_loop,
    latency_measurer,
    resolve_budgets,
    search,
)

__all__ = [
    "BudgetNotMetError",
    "LoopResult",
    "build_constraints",
    "closed_loop",
    "latency_measurer",
    "resolve_budgets",
    "search",
]
