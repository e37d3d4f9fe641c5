"""Local search (White et al., 2021): evaluate every neighbour of the incumbent, move to the best.

A neighbour changes one decision (one edge operation on NAS-Bench-201). Costs are known without a
query, so over-budget neighbours are rejected for free by the ask/tell loop; only feasible,
not-yet-seen cells spend a query of the objective. When no neighbour improves on the incumbent
(a local optimum), the search restarts from a random feasible cell.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver

__all__ = ["LocalSearchSolver"]


@register_solver("local")
class LocalSearchSolver(QuerySolver):
    """Best-improvement hill climbing over one-decision neighbours, with random restarts.

    Example:
        >>> from budgetnas.search import create_solver
        >>> from budgetnas.testing.problems import random_problem
        >>> result = create_solver("local", n_queries=30, seed=0).solve(random_problem(0))
        >>> result.feasible
        True
    """

    name = "local"

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        self._space = problem.space
        self._rng = rng
        self._values: dict[Architecture, float | None] = {}
        self._incumbent: Architecture | None = None
        self._queue: deque[Architecture] = deque()

    def _neighbours(self, arch: Architecture) -> list[Architecture]:
        out = []
        for g, size in enumerate(self._space.group_sizes):
            for c in range(size):
                if c != arch.choices[g]:
                    choices = list(arch.choices)
                    choices[g] = c
                    out.append(self._space.arch(choices))
        order = self._rng.permutation(len(out))
        return [out[i] for i in order]

    def _step(self) -> None:
        """All neighbours are known: move to the best one, or restart at a local optimum."""
        assert self._incumbent is not None
        here = self._values[self._incumbent]
        scored = [
            (v, a)
            for a in self._neighbours(self._incumbent)
            if (v := self._values.get(a)) is not None
        ]
        best = max(scored, key=lambda item: item[0], default=None)
        if best is not None and here is not None and best[0] > here:
            self._incumbent = best[1]
            self._queue.extend(a for a in self._neighbours(best[1]) if a not in self._values)
        else:
            self._incumbent = None  # local optimum: restart

    def ask(self) -> Architecture:
        while True:
            if self._incumbent is None:
                return self._space.sample(self._rng)
            if self._queue:
                return self._queue.popleft()
            self._step()

    def tell(self, arch: Architecture, value: float | None) -> None:
        self._values[arch] = value
        if self._incumbent is None and value is not None:
            self._incumbent = arch
            self._queue = deque(a for a in self._neighbours(arch) if a not in self._values)
