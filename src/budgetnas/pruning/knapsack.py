"""0/1 knapsack: maximise ``sum v x`` subject to ``sum c x <= capacity``, ``x`` binary.

Three solvers, built by name (``solve_knapsack(..., method=...)``):

* ``"dp"``: exact dynamic programming on integer costs. Real-valued costs are scaled to
  ``resolution`` units of the capacity and rounded *up*, so a DP solution is always feasible for
  the real costs and optimal for the rounded ones.
* ``"milp"``: exact on the real costs, with SciPy's HiGHS MILP solver.
* ``"greedy"``: by value/cost ratio, the fast option (no optimality guarantee).
"""

from __future__ import annotations

import math

import numpy as np


def knapsack_dp(values: np.ndarray, costs: np.ndarray, capacity: int) -> np.ndarray:
    """Exact 0/1 knapsack for non-negative integer costs; returns the boolean selection.

    ``O(n * capacity)`` time and bits of memory.

    Example:
        >>> knapsack_dp(np.array([6.0, 10.0, 12.0]), np.array([1, 2, 3]), 5).tolist()
        [False, True, True]
    """
    values = np.asarray(values, dtype=float)
    costs = np.asarray(costs)
    if costs.size and (np.any(costs < 0) or not np.issubdtype(costs.dtype, np.integer)):
        raise ValueError("knapsack_dp needs non-negative integer costs")
    capacity = int(capacity)
    if capacity < 0:
        raise ValueError("capacity must be >= 0")
    n = values.size
    take = np.zeros(n, dtype=bool)
    # items of non-positive value are never worth taking
    best = np.zeros(capacity + 1)
    choice = np.zeros((n, capacity + 1), dtype=bool)
    for i in range(n):
        c, v = int(costs[i]), values[i]
        if v <= 0 or c > capacity:
            continue
        cand = np.full(capacity + 1, -np.inf)
        cand[c:] = best[: capacity + 1 - c] + v
        better = cand > best
        choice[i] = better
        best = np.where(better, cand, best)
    w = int(np.argmax(best))
    for i in range(n - 1, -1, -1):
        if choice[i, w]:
            take[i] = True
            w -= int(costs[i])
    return take


def knapsack_milp(
    values: np.ndarray, costs: np.ndarray, capacity: float, time_limit: float = 10.0
) -> np.ndarray:
    """Exact 0/1 knapsack on real costs with HiGHS (``scipy.optimize.milp``).

    Knapsacks with many equal-cost items are highly symmetric and branch and bound may not
    close the gap quickly; after ``time_limit`` seconds the best solution found is returned.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    values = np.asarray(values, dtype=float)
    costs = np.asarray(costs, dtype=float)
    if values.size == 0:
        return np.zeros(0, dtype=bool)
    res = milp(
        -values,
        constraints=LinearConstraint(costs[None, :], -np.inf, float(capacity)),
        integrality=np.ones(values.size),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0, "time_limit": float(time_limit)},
    )
    if res.x is None:
        raise RuntimeError(f"MILP knapsack failed: {res.message}")
    take = res.x > 0.5
    # guard against solver tolerance: drop the worst ratio items until feasible
    while costs[take].sum() > capacity and take.any():
        idx = np.flatnonzero(take)
        take[idx[np.argmin(values[idx] / np.maximum(costs[idx], 1e-300))]] = False
    return take


def knapsack_greedy(values: np.ndarray, costs: np.ndarray, capacity: float) -> np.ndarray:
    """Take items by decreasing value/cost while they fit (free items first)."""
    values = np.asarray(values, dtype=float)
    costs = np.asarray(costs, dtype=float)
    ratio = np.where(costs > 0, values / np.maximum(costs, 1e-300), np.inf)
    order = np.argsort(-ratio, kind="stable")
    take = np.zeros(values.size, dtype=bool)
    used = 0.0
    for i in order:
        if values[i] <= 0:
            continue
        if used + costs[i] <= capacity:
            take[i] = True
            used += costs[i]
    return take


METHODS = ("dp", "milp", "greedy")


def solve_knapsack(
    values: np.ndarray,
    costs: np.ndarray,
    capacity: float,
    method: str = "dp",
    resolution: int = 20000,
) -> np.ndarray:
    """Solve with ``method`` in :data:`METHODS`; real costs for all (scaled for ``"dp"``)."""
    values = np.asarray(values, dtype=float)
    costs = np.asarray(costs, dtype=float)
    if np.any(costs < 0):
        raise ValueError("knapsack costs must be non-negative")
    if capacity < 0:
        return np.zeros(values.size, dtype=bool)
    if method == "dp":
        scale = resolution / capacity if capacity > 0 else math.inf
        if not math.isfinite(scale):  # zero (or subnormal) capacity: only free items fit
            return (costs == 0) & (values > 0)
        icap = math.floor(capacity * scale + 1e-9)
        # an item costlier than the capacity can never be taken: clip before the integer cast,
        # so a tiny capacity (huge scale) cannot overflow int64 into negative costs
        icosts = np.minimum(np.ceil(costs * scale - 1e-9), icap + 1).astype(np.int64)
        return knapsack_dp(values, icosts, icap)
    if method == "milp":
        return knapsack_milp(values, costs, capacity)
    if method == "greedy":
        return knapsack_greedy(values, costs, capacity)
    raise ValueError(f"unknown knapsack method {method!r}; use one of {', '.join(METHODS)}")


__all__ = ["METHODS", "knapsack_dp", "knapsack_greedy", "knapsack_milp", "solve_knapsack"]
