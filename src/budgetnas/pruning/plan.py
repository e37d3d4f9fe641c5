"""Choose which channels to keep under a budget (docs/methods/pruning.md).

Items are the channels of the channel groups; values are their importances; the cost of a set of
kept channels is the exact width model of :class:`~budgetnas.pruning.groups.PruningGraph` (MACs or
parameters, bilinear in the kept counts) or a latency model built on it. The knapsack needs linear
costs, so the cost is linearised at a point (each channel of group ``g`` costs the finite
difference ``C(p) - C(p - e_g)``), the knapsack is solved, and the linear capacity is bisected so
that the *exact* cost of the chosen counts meets the budget; the linearisation point then moves
to the solution and the whole is repeated. The best feasible choice found is returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from budgetnas.pruning.groups import PruningError, PruningGraph
from budgetnas.pruning.knapsack import solve_knapsack
from budgetnas.units import Budget

CostFn = Callable[[np.ndarray], float]


@dataclass
class Plan:
    keep: list[np.ndarray]  # kept root-channel indices per group
    counts: np.ndarray
    value: float
    cost: float  # predicted by the cost model, in the budget's unit
    take: np.ndarray | None = None  # the knapsack's choice over the optional channels


def measure_latency_ms(
    model: nn.Module, example: torch.Tensor, runs: int = 50, warmup: int = 10
) -> float:
    """Median wall-clock latency (ms) of one forward pass on ``example[:1]``, 1 CPU thread
    (:func:`budgetnas.costs.latency.measure`, one call per timed repeat)."""
    from budgetnas.costs.latency import measure

    was_training = model.training
    model.eval()
    x = example[:1]

    def forward():
        with torch.inference_mode():
            return model(x)

    try:
        timing = measure({"model": forward}, repeats=runs, warmup=warmup, number=1, clock="wall")
    finally:
        model.train(was_training)
    return timing["model"].median


class LatencyModel:
    """Latency (ms, CPU, batch 1, 1 thread) of kept-channel counts, from per-layer measurements.

    Every leaf module of the parent is timed with forward hooks (median over ``runs`` passes).
    A conv/linear layer's time scales with its MACs under the width model, a norm layer's with
    its group's kept fraction, everything else stays. On a busy machine the per-module medians
    do not add up to the measured end-to-end median (pre-emptions land between modules), so all
    module times are scaled by ``total / sum`` to match the end-to-end latency: the unexplained
    time is assumed to be spread like the explained. The budget is then checked by measuring the
    pruned network itself (:func:`budgetnas.pruning.pipeline.prune_to_budget`).
    """

    def __init__(self, model: nn.Module, graph: PruningGraph, runs: int = 50):
        self.graph = graph
        modules = dict(model.named_modules())
        leaves = [n for n, m in modules.items() if n and not any(True for _ in m.children())]
        starts: dict[str, float] = {}
        spent: dict[str, list[float]] = {n: [] for n in leaves}
        hooks = []
        for n in leaves:
            m = modules[n]
            hooks.append(
                m.register_forward_pre_hook(
                    lambda mod, i, n=n: starts.__setitem__(n, time.perf_counter())
                )
            )
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, n=n: spent[n].append(time.perf_counter() - starts[n])
                )
            )
        try:
            measure_latency_ms(model, graph.example, runs=runs)
        finally:
            for h in hooks:
                h.remove()
        med = {n: float(np.median(v[-runs:]) * 1e3) for n, v in spent.items() if v}
        self.total_ms = measure_latency_ms(model, graph.example, runs=runs)
        scale = self.total_ms / max(sum(med.values()), 1e-12)
        self.layer_ms = {n: t * scale for n, t in med.items() if n in graph.layers}
        self.norm_ms = {
            n: t * scale
            for n, t in med.items()
            if n in graph.norms and graph.norms[n][1] is not None
        }
        self.fixed_ms = (
            sum(t for n, t in med.items() if n not in self.layer_ms and n not in self.norm_ms)
            * scale
        )
        #: the part of the parent's latency that pruning cannot reduce, in this model
        self.overhead_ms = self.fixed_ms
        self.full_layer_macs = graph.layer_macs(graph.full_keep())
        self.sizes = graph.full_keep()

    def __call__(self, counts: np.ndarray) -> float:
        macs = self.graph.layer_macs(counts)
        conv = sum(
            t * macs[n] / self.full_layer_macs[n]
            for n, t in self.layer_ms.items()
            if self.full_layer_macs[n] > 0
        )
        norm = sum(
            t * counts[self.graph.norms[n][1]] / self.sizes[self.graph.norms[n][1]]
            for n, t in self.norm_ms.items()
        )
        return self.fixed_ms + conv + norm


def cost_function(
    budget: Budget, graph: PruningGraph, model: nn.Module | None = None
) -> tuple[CostFn, float]:
    """The exact cost model of ``budget``'s metric and the parent's value on it."""
    quantity, unit = budget.quantity, budget.unit
    if quantity in ("flops", "macs"):
        per = 2.0 if quantity == "flops" else 1.0
        fn: CostFn = lambda c: per * graph.macs(c) / 1e6  # noqa: E731
    elif quantity == "params":
        fn = lambda c: graph.params(c) / 1e6  # noqa: E731
    elif quantity in ("latency", "lat"):
        if model is None:
            raise ValueError("a latency budget needs the model to measure")
        fn = LatencyModel(model, graph)
    else:
        raise PruningError(
            f"pruning supports budgets on flops, macs, params and latency (CPU, batch 1, "
            f"1 thread); got {budget.metric!r}"
        )
    full = fn(graph.full_keep())
    if unit == "ratio":
        return (lambda c: fn(c) / full), 1.0
    if unit not in ("m", "ms"):
        raise PruningError(f"unsupported unit in {budget.metric!r}")
    return fn, full


def plan_keep(
    graph: PruningGraph,
    values: list[np.ndarray],
    cost: CostFn,
    limit: float,
    method: str = "dp",
    min_keep_ratio: float | np.ndarray = 0.1,
    rounds: int = 3,
    bisect_steps: int = 18,
) -> Plan:
    """Best kept channels with ``cost(counts) <= limit`` (see the module docstring).
    ``min_keep_ratio`` (one fraction, or one per group) of every group is always kept."""
    sizes = np.array([g.size for g in graph.groups])
    order = [np.argsort(-v, kind="stable") for v in values]
    ratio = np.broadcast_to(np.asarray(min_keep_ratio, dtype=float), sizes.shape)
    mandatory = np.minimum(sizes, np.maximum(1, np.ceil(ratio * sizes - 1e-9))).astype(int)
    floor_cost = cost(mandatory.astype(float))
    if floor_cost > limit:
        shown = f"{ratio[0]:.0%}" if np.all(ratio == ratio[0]) else "fraction"
        raise PruningError(
            f"budget unreachable: keeping the minimum {shown} of every channel "
            f"group (at least one channel) already costs {floor_cost:.6g} > {limit:.6g}; "
            "lower --min-keep or relax the budget"
        )
    # free items: channels beyond the mandatory ones
    items = _Items(
        np.concatenate(
            [np.full(s - m, g) for g, (s, m) in enumerate(zip(sizes, mandatory, strict=True))]
        ),
        np.concatenate([o[m:] for o, m in zip(order, mandatory, strict=True)]),
        np.concatenate([v[o[m:]] for v, o, m in zip(values, order, mandatory, strict=True)]),
        mandatory,
    )
    best: Plan | None = None
    point = sizes.astype(float)
    if cost(point) <= limit:
        keep = [np.arange(s) for s in sizes]
        return Plan(keep, point, float(sum(v.sum() for v in values)), cost(point))
    for _ in range(rounds):
        best = _round(items, point, best, cost, limit, method, bisect_steps)
        point = best.counts.astype(float)
    assert best is not None
    keep = []
    for g, (o, m) in enumerate(zip(order, mandatory, strict=True)):
        extra = items.chan[(items.group == g) & best.take]
        keep.append(np.sort(np.concatenate([o[:m], extra])))
    return Plan(keep, best.counts, best.value, best.cost)


@dataclass
class _Items:
    """The optional channels of :func:`plan_keep` (beyond each group's mandatory ones): their
    group, channel index and value, and the mandatory count of every group."""

    group: np.ndarray
    chan: np.ndarray
    value: np.ndarray
    mandatory: np.ndarray

    def counts(self, take: np.ndarray) -> np.ndarray:
        """Kept channels per group when the items ``take`` are chosen."""
        return self.mandatory + np.bincount(self.group[take], minlength=len(self.mandatory))


def _round(items: _Items, point, best, cost, limit, method, bisect_steps) -> Plan:
    """One round of :func:`plan_keep`: linearise the cost at ``point``, then grow and bisect the
    knapsack's linear capacity, keeping the best choice whose exact cost meets ``limit``."""
    item_value, counts_of = items.value, items.counts
    base = cost(point)
    unit = np.empty(len(point))
    for g in range(len(point)):
        q = point.copy()
        q[g] -= 1
        unit[g] = max(base - cost(q), 0.0)
    item_cost = unit[items.group]
    mandatory_lin = float(unit @ items.mandatory)
    # linearised: base + unit @ (n - point) <= limit
    cap0 = limit - base + float(unit @ point) - mandatory_lin
    lo, hi = 0.0, max(cap0, 0.0)
    total_items = float(item_cost.sum())
    # grow hi until infeasible (or everything fits)
    for _ in range(30):
        take = solve_knapsack(item_value, item_cost, hi, method)
        c = counts_of(take)
        if cost(c.astype(float)) > limit:
            break
        best = _better(best, take, c, item_value, cost, limit)
        if hi >= total_items:
            break
        lo, hi = hi, min(total_items, hi * 1.5 + 1e-12)
    for _ in range(bisect_steps):
        mid = 0.5 * (lo + hi)
        take = solve_knapsack(item_value, item_cost, mid, method)
        c = counts_of(take)
        if cost(c.astype(float)) <= limit:
            best = _better(best, take, c, item_value, cost, limit)
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-4 * max(hi, 1e-12):
            break
    if best is None:
        take = np.zeros(item_value.size, dtype=bool)
        best = _better(None, take, counts_of(take), item_value, cost, limit)
    return best


def _better(best, take, counts, item_value, cost, limit):
    value = float(item_value[take].sum())
    if best is not None and best.value >= value:
        return best
    return Plan([], counts.astype(float), value, cost(counts.astype(float)), take.copy())


def scale_limit(limit: float, measured: float, target: float) -> float:
    """A tighter internal limit after a measured violation (``measured > target``)."""
    return limit * min(0.98, target / measured) if measured > 0 else limit * 0.9


__all__ = [
    "LatencyModel",
    "Plan",
    "cost_function",
    "measure_latency_ms",
    "plan_keep",
    "scale_limit",
]
