"""Block-coordinate Frank-Wolfe on the relaxed problem (HardCoRe-NAS, docs/methods/search.md).

Each one-hot group is relaxed to a probability vector; a quadratic form's value at such a product
distribution is its expectation. Groups are partitioned into blocks with no pair term inside a
block (a greedy colouring of the interaction graph), so with the other blocks fixed, the objective
and every budget are linear in the block. A step solves the LP ``v = argmax grad @ v`` over the
block's simplices and budgets, then moves ``x <- x + gamma (v - x)``: both ends are feasible, so
every iterate is. Budgets use ``form + r_max <= B``, which implies the exact cost is within budget.
Discretization fixes one group at a time to its best option among those that keep every budget
satisfied with the rest still relaxed (with one budget such an option always exists: the cheapest
option costs no more than the current mixture). With several budgets this can get stuck; then the
best architecture inside the support of the relaxed point is found by the exact MILP (and the
result's status says so).

The pieces (relaxed budgets, feasible start, the block LP, feasible rounding) are in
:mod:`budgetnas.search.relaxation`, shared with the supernet-driven variant,
:mod:`budgetnas.search.hardcore`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, Solver
from budgetnas.search.program import drop_intra_group
from budgetnas.search.relaxation import (
    block_indices,
    block_lp,
    color_groups,
    discretize,
    feasible_start,
    relaxed_budgets,
)

__all__ = ["FrankWolfeSolver"]


@register_solver("frank-wolfe")
class FrankWolfeSolver(Solver):
    """Relaxed block-coordinate Frank-Wolfe with feasible iterates and feasible rounding.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("frank-wolfe", steps=300)
    """

    name = "frank-wolfe"

    def __init__(
        self,
        steps: int = 300,
        step_size: float | None = None,
        seed: int | None = 0,
        tol: float = 1e-9,
    ):
        self.steps = steps
        self.step_size = step_size
        self.seed = seed
        self.tol = tol

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        if problem.objective is None:
            raise ValueError("frank-wolfe needs an objective form (a predictor)")
        space = problem.space
        f = drop_intra_group(problem.objective, space)
        budgets = relaxed_budgets(problem, self.name)
        blocks = color_groups(space, [f] + [b for b, _ in budgets])
        x = feasible_start(space, budgets, self.tol, self.name)
        rng = np.random.default_rng(self.seed)
        history = []
        nb = len(blocks)
        for t in range(self.steps):
            block = blocks[int(rng.integers(nb))] if nb > 1 else blocks[0]
            idx = block_indices(space, block)
            _, grad = f.linear_in(x, idx)
            v = block_lp(space, block, idx, grad, x, budgets)
            gamma = self.step_size if self.step_size is not None else 2.0 / (t // nb + 2.0)
            x[idx] = x[idx] + gamma * (v - x[idx])
            if t % max(1, self.steps // 20) == 0 or t == self.steps - 1:
                history.append(
                    {
                        "step": t,
                        "objective": f.value(x),
                        "budgets": [form.value(x) for form, _ in budgets],
                    }
                )
        arch, self.rounding_ = discretize(space, f, budgets, x, self.tol, self.name)
        return arch, {
            "status": f"relaxed {self.steps} steps, rounding: {self.rounding_}",
            "history": history,
        }
