"""Regularized evolution (Real et al., 2019): tournament selection, one mutation, oldest dies."""

from __future__ import annotations

from collections import deque

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver

__all__ = ["EvolutionSolver"]


@register_solver("evolution")
class EvolutionSolver(QuerySolver):
    """Regularized evolution under hard budgets: over-budget children are rejected unqueried.

    The population is seeded with ``population`` random feasible architectures; each step picks
    the best of ``sample_size`` random members, mutates one decision, and replaces the oldest.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("evolution", n_queries=100, population=20, sample_size=5)
    """

    name = "evolution"

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        population: int = 20,
        sample_size: int = 5,
        max_proposals: int | None = None,
    ):
        super().__init__(n_queries, seed, max_proposals)
        if not 1 <= sample_size <= population:
            raise ValueError("need 1 <= sample_size <= population")
        self.population = population
        self.sample_size = sample_size

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        self._space = problem.space
        self._rng = rng
        self._pop: deque[tuple[Architecture, float]] = deque(maxlen=self.population)
        self._pending: Architecture | None = None

    def ask(self) -> Architecture:
        if len(self._pop) < self.population:
            return self._space.sample(self._rng)
        idx = self._rng.choice(len(self._pop), size=self.sample_size, replace=False)
        parent = max((self._pop[i] for i in idx), key=lambda item: item[1])[0]
        return self._space.mutate(parent, self._rng)

    def tell(self, arch: Architecture, value: float | None) -> None:
        if value is not None and not any(a == arch for a, _ in self._pop):
            self._pop.append((arch, value))  # deque(maxlen) drops the oldest
