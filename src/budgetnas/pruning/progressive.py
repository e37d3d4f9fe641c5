"""Progressive knapsack pruning: several smaller knapsack steps with re-scored importance.

First-order Taylor importance is the loss change of removing *one* channel. Removing half of a
network in one knapsack step adds those changes up as if they were independent, and misses that
a layer pruned to a few channels becomes a bottleneck: at 30% of FLOPs a one-shot knapsack on
ResNet-20 keeps 2-4 of the 16 first-stage channels (docs/bench/pruning.md). Pruning in ``steps``
knapsack steps on a geometric schedule of budgets from the parent's cost down to the target,
with a short recovery of inner-distillation training between steps and the importance measured
again on the current network each time, lets the scores of a layer that is getting thin rise
before it is emptied (the schedule of HALP, Shen et al. 2022, and of Molchanov et al. 2019).

Every step is a :func:`~budgetnas.pruning.pipeline.prune_to_budget` call, so every intermediate
network is a real, smaller network whose cost is measured, and the last step meets the budget
exactly as counted on the pruned network. ``min_keep_ratio`` refers to the *parent's* group sizes
at every step, so it does not compound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from budgetnas.models.train import Batches
from budgetnas.pruning.distill import finetune
from budgetnas.pruning.groups import PruningError, PruningGraph
from budgetnas.pruning.importance import IMPORTANCES, calibrate_values
from budgetnas.pruning.pipeline import PruneOutcome, measure, prune_to_budget
from budgetnas.units import Budget, parse_budget


@dataclass
class ProgressiveOutcome:
    model: nn.Module
    final: PruneOutcome  # the last step (its graph is the last intermediate network's)
    parent_value: float  # the budget's quantity on the parent, canonical unit
    value: float  # on the result, in the budget's unit (relative for ratio budgets)
    schedule: list[float]  # absolute limit of every step, canonical unit
    measured: list[float] = field(default_factory=list)  # absolute value after every step


def geometric_schedule(parent_value: float, final: float, steps: int) -> list[float]:
    """Absolute limits ``parent * (final / parent) ** (i / steps)`` for ``i = 1..steps``; the last
    is ``final`` itself."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if not (final > 0 and parent_value > 0):
        raise ValueError("progressive pruning needs positive costs")
    ratio = final / parent_value
    return [parent_value * ratio ** (i / steps) for i in range(1, steps)] + [final]


def _absolute(budget: Budget, limit: float) -> Budget:
    unit = "ms" if budget.quantity in ("latency", "lat") else "m"
    return parse_budget(f"{budget.quantity}_{unit}<={limit!r}")


def _min_keep(graph: PruningGraph, parent_sizes: dict[str, int], ratio: float) -> np.ndarray:
    """Per group of an intermediate network, the fraction of its current channels to keep so that
    at least ``ratio`` of the parent's group remains (groups are matched by their layers)."""
    out = np.full(len(graph.groups), ratio)
    for i, g in enumerate(graph.groups):
        sizes = [parent_sizes[m] for m in g.layers("out") if m in parent_sizes]
        if sizes:
            out[i] = min(1.0, math.ceil(ratio * max(sizes)) / g.size)
    return out


def progressive_prune(
    parent: nn.Module,
    example: torch.Tensor,
    budget: Budget,
    batches,
    steps: int = 4,
    recover: Callable[[nn.Module, int], None] | None = None,
    importance: str = "taylor",
    num_batches: int = 16,
    importance_kwargs: dict | None = None,
    calibrate: float | None = None,
    method: str = "dp",
    min_keep_ratio: float = 0.1,
    ignored: list[str] | None = None,
    output_layers: list[str] | None = None,
    log: Callable[[str], None] | None = None,
    graph: PruningGraph | None = None,
) -> ProgressiveOutcome:
    """Prune ``parent`` to ``budget`` in ``steps`` knapsack steps (see the module docstring).

    ``batches`` is an iterable of ``(x, y)`` for the importance; ``recover(net, step)`` trains the
    intermediate network in place after every step but the last (``None``: no recovery).
    ``graph`` is the parent's :class:`PruningGraph` if the caller has it (built with the same
    ``ignored`` and ``output_layers``), so it is not traced again.
    """
    if budget.quantity not in ("flops", "macs", "params", "latency", "lat"):
        raise PruningError(f"cannot prune to {budget.metric!r}")
    graph = graph or PruningGraph(parent, example, ignored=ignored, output_layers=output_layers)
    parent_value = measure(budget, parent, example)
    final = budget.limit * parent_value if budget.unit == "ratio" else budget.limit
    if final >= parent_value:
        steps = 1  # nothing to prune: one knapsack call keeps every channel
    parent_sizes = {m: g.size for g in graph.groups for m in g.layers("out")}
    schedule = geometric_schedule(parent_value, final, steps)
    score = IMPORTANCES.get(importance)
    net, measured, outcome = parent, [], None
    for i, limit in enumerate(schedule, start=1):
        if i > 1:
            graph = PruningGraph(net, example, ignored=ignored, output_layers=output_layers)
        values = score(net, graph, batches, num_batches=num_batches, **(importance_kwargs or {}))
        if calibrate:
            values = calibrate_values(net, graph, values, batches, fraction=calibrate)
        keep = _min_keep(graph, parent_sizes, min_keep_ratio)
        outcome = prune_to_budget(
            net, example, _absolute(budget, limit), values, graph, method, keep
        )
        net = outcome.model
        measured.append(outcome.value)
        if log:
            log(f"pruning step {i}/{steps}: {budget.quantity} {outcome.value:.6g} <= {limit:.6g}")
        if i < steps and recover is not None:
            recover(net, i)
    assert outcome is not None
    value = outcome.value / parent_value if budget.unit == "ratio" else outcome.value
    if not budget.feasible(value):  # the last step's limit is the budget itself
        raise PruningError(f"progressive pruning ended at {value:.6g}, over {budget}")
    return ProgressiveOutcome(net, outcome, parent_value, value, schedule, measured)


def distill_recovery(loader, batches: int, parent: nn.Module, **distill) -> Callable:
    """A ``recover`` for :func:`progressive_prune`: ``batches`` batches of inner-distillation
    fine-tuning from ``parent`` on ``loader`` (``distill``: :func:`finetune`'s ``gamma``, ``kl``,
    ``temperature``, ``lr``)."""

    def recover(net: nn.Module, step: int) -> None:
        finetune(net, Batches(loader, batches), 1, parent=parent, **distill)

    return recover


def remaining_finetuning(loader, epochs: int, spent: int) -> tuple[object, int]:
    """``(loader, epochs)`` for the fine-tuning left after ``spent`` recovery batches were taken
    from ``epochs`` epochs of ``loader``: the same total number of training batches."""
    if not spent:
        return loader, epochs
    return Batches(loader, max(0, epochs * len(loader) - spent)), 1


__all__ = [
    "ProgressiveOutcome",
    "distill_recovery",
    "geometric_schedule",
    "progressive_prune",
    "remaining_finetuning",
]
