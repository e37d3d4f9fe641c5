"""Random search with rejection of over-budget samples (the reference ask/tell solver)."""

from __future__ import annotations

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver

__all__ = ["RandomSolver"]


@register_solver("random")
class RandomSolver(QuerySolver):
    """Uniform samples of the space; over-budget ones are rejected without a query.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("random", n_queries=50, seed=0)
    """

    name = "random"

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        self._space = problem.space
        self._rng = rng

    def ask(self) -> Architecture:
        return self._space.sample(self._rng)
