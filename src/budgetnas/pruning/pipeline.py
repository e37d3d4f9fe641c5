"""Prune a network to a budget and check the budget on the pruned network itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from budgetnas.costs.modules import count, torch_flops
from budgetnas.pruning.apply import apply_keep
from budgetnas.pruning.groups import PruningError, PruningGraph
from budgetnas.pruning.plan import (
    LatencyModel,
    Plan,
    cost_function,
    measure_latency_ms,
    plan_keep,
    scale_limit,
)
from budgetnas.units import Budget


@dataclass
class PruneOutcome:
    model: nn.Module
    graph: PruningGraph
    plan: Plan
    value: float  # the budget's metric measured on the pruned network
    parent_value: float
    attempts: int
    internal_limits: list[float] = field(default_factory=list)


def kept_widths(parent_graph: PruningGraph, net: nn.Module) -> list[dict]:
    """Per channel group of the parent, its channels and how many the pruned ``net`` kept
    (read from the root layer's width in ``net``, so it holds after any number of steps)."""
    modules = dict(net.named_modules())
    out = []
    for g in parent_graph.groups:
        m = modules[g.root]
        kept = getattr(m, "out_channels", None) or getattr(m, "out_features", None)
        out.append({"group": g.index, "root": g.root, "channels": g.size, "kept": int(kept)})
    return out


def measure(budget: Budget, net: nn.Module, example: torch.Tensor) -> float:
    """The budget's quantity on a real network, in its canonical unit (not relative)."""
    q = budget.quantity
    if q in ("flops", "macs"):
        c = count(net, example)
        if 2 * c.macs != torch_flops(net, example):
            raise PruningError(
                "the analytic FLOP count disagrees with torch.utils.flop_counter on this network "
                f"({2 * c.macs} vs {torch_flops(net, example)}); it has layers the counter misses"
            )
        return (c.flops if q == "flops" else c.macs) / 1e6
    if q == "params":
        return count(net, example).params / 1e6
    if q in ("latency", "lat"):
        return measure_latency_ms(net, example, runs=100)
    raise PruningError(f"cannot measure {budget.metric!r}")


def prune_to_budget(
    model: nn.Module,
    example: torch.Tensor,
    budget: Budget,
    values: list[np.ndarray],
    graph: PruningGraph | None = None,
    method: str = "dp",
    min_keep_ratio: float | np.ndarray = 0.1,
    max_attempts: int = 6,
) -> PruneOutcome:
    """Choose channels by knapsack, remove them, and measure the budget on the result; on a
    violation (latency noise, costs the width model misses) tighten the internal limit and
    re-solve. Raises :class:`PruningError` if no attempt meets the budget."""
    graph = graph or PruningGraph(model, example)
    cost, _full = cost_function(budget, graph, model)
    parent_value = measure(budget, model, example)
    relative = budget.unit == "ratio"
    limit = budget.limit
    limits = []
    last = None
    for attempt in range(1, max_attempts + 1):
        limits.append(limit)
        try:
            plan = plan_keep(graph, values, cost, limit, method, min_keep_ratio)
        except PruningError as err:
            if isinstance(cost, LatencyModel):
                raise PruningError(
                    f"{err}. Latency here is measured on this CPU (batch 1, 1 thread): the parent "
                    f"takes {cost.total_ms:.3g} ms, of which about {cost.overhead_ms:.3g} ms is "
                    "spent in layers whose time does not shrink with pruning (activations, "
                    "pooling, per-op overhead)"
                ) from err
            raise
        net = apply_keep(model, graph, plan.keep)
        value = measure(budget, net, example)
        if relative:
            value = value / parent_value
        last = value
        if budget.feasible(value):
            return PruneOutcome(net, graph, plan, value, parent_value, attempt, limits)
        limit = scale_limit(limit, value, budget.limit)
    raise PruningError(
        f"could not meet {budget} after {max_attempts} attempts (last measured {last:.6g}); "
        "for latency budgets this usually means measurement noise larger than the slack"
    )


__all__ = ["PruneOutcome", "kept_widths", "measure", "prune_to_budget"]
