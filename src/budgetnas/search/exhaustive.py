"""Exact search by enumeration, for spaces small enough to list (NAS-Bench-201: 15,625 cells).

It is the oracle of the tabular benchmarks and the reference the other solvers are tested
against. Costs are evaluated exactly (vectorized through ``evaluate_many`` where a cost model has
it), so non-additive measured latencies are handled exactly too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, Solver
from budgetnas.search.errors import SolverFailedError
from budgetnas.search.program import cost_vector

__all__ = ["ExhaustiveSolver", "feasible_mask", "score_vector"]


def feasible_mask(problem: Problem, archs: list[Architecture]) -> np.ndarray:
    ok = np.ones(len(archs), dtype=bool)
    for c in problem.constraints:
        ok &= cost_vector(c, problem.space, archs) <= c.budget.limit + c.budget.tolerance
    return ok


def score_vector(problem: Problem, archs: list[Architecture], use_query: bool) -> np.ndarray:
    if use_query and problem.query is not None:
        many = getattr(problem.query, "many", None)
        if many is not None:
            return np.asarray(many(archs), dtype=float)
        return np.array([problem.query(a) for a in archs])
    assert problem.objective is not None
    return problem.objective.values(problem.space.encode_many(archs))


@register_solver("exhaustive")
class ExhaustiveSolver(Solver):
    """The best architecture by listing every one (refuses spaces over ``limit`` points).

    ``use_query=True`` scores with the problem's query (the oracle of a table); otherwise with the
    objective form when there is one.
    """

    name = "exhaustive"

    def __init__(
        self, limit: int = 1_000_000, use_query: bool = True, exclude: Iterable[Architecture] = ()
    ):
        self.limit = limit
        self.use_query = use_query
        self.exclude: set[Architecture] = set(exclude)

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        archs = list(problem.space.all_archs(self.limit))
        use_query = self.use_query or problem.objective is None
        scores = score_vector(problem, archs, use_query)
        ok = feasible_mask(problem, archs)
        if self.exclude:
            ok &= np.array([a not in self.exclude for a in archs])
        if not ok.any():
            raise SolverFailedError("exhaustive: every feasible architecture is excluded")
        best = int(np.argmax(np.where(ok, scores, -np.inf)))
        return archs[best], {"status": "optimal", "gap": 0.0, "objective": float(scores[best])}
