"""Knapsack channel pruning with inner distillation (docs/methods/pruning.md).

Pipeline: :class:`~budgetnas.pruning.groups.PruningGraph` (channel groups from torch-pruning's
dependency graph and an exact width model of FLOPs/params) -> importance per channel
(:mod:`~budgetnas.pruning.importance`) -> knapsack choice of kept channels under the budget
(:mod:`~budgetnas.pruning.plan`, :mod:`~budgetnas.pruning.knapsack`) -> real removal
(:mod:`~budgetnas.pruning.apply`) -> fine-tuning with inner distillation
(:mod:`~budgetnas.pruning.distill`). :func:`prune_to_budget` runs the middle three and checks the
budget on the pruned network itself, tightening and re-solving if it is violated;
:func:`prune` (:mod:`~budgetnas.pruning.run`) is the whole workflow of ``budgetnas prune`` from
a :class:`PruneConfig` to a :class:`PruneResult`.

Importing the package is cheap: torch and torch-pruning are imported with the names that need
them, on first use.
"""

from __future__ import annotations

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "PruneConfig",
    "PruneOutcome",
    "PruneResult",
    "PruningError",
    "PruningGraph",
    "apply_keep",
    "finetune",
    "progressive_prune",
    "prune",
    "prune_to_budget",
    "solve_knapsack",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "PruneConfig": "budgetnas.pruning.config",
        "PruneResult": "budgetnas.pruning.result",
        "prune": "budgetnas.pruning.run",
        "PruneOutcome": "budgetnas.pruning.pipeline",
        "prune_to_budget": "budgetnas.pruning.pipeline",
        "progressive_prune": "budgetnas.pruning.progressive",
        "PruningError": "budgetnas.pruning.groups",
        "PruningGraph": "budgetnas.pruning.groups",
        "apply_keep": "budgetnas.pruning.apply",
        "finetune": "budgetnas.pruning.distill",
        "solve_knapsack": "budgetnas.pruning.knapsack",
    },
)
__dir__ = lazy_dir(__name__)
