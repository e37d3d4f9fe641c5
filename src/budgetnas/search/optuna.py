"""Optuna's NSGA-II with ``constraints_func`` (values <= 0 feasible) as the constrained baseline."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver

__all__ = ["OptunaSolver"]


@register_solver("optuna")
class OptunaSolver(QuerySolver):
    """NSGA-II over the one-hot groups as categorical parameters.

    Every proposal is told to Optuna with its budget violations as constraints; an over-budget
    proposal is not queried (it is told the worst objective seen, and the constraint dominance of
    NSGA-II ranks it below every feasible one). Repeated proposals are answered from memory.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("optuna", n_queries=100, population=20)
    """

    name = "optuna"

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        population: int = 20,
        max_proposals: int | None = None,
    ):
        super().__init__(n_queries, seed, max_proposals)
        self.population = population

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        self._problem = problem
        self._space = problem.space
        seed = int(rng.integers(2**31))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.NSGAIISampler(
                population_size=self.population,
                seed=seed,
                constraints_func=lambda trial: trial.user_attrs["constraints"],
            )
        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._trial: Any = None
        self._worst = np.inf

    def ask(self) -> Architecture:
        self._trial = self._study.ask()
        choices = [
            self._trial.suggest_categorical(f"g{g}", list(range(size)))
            for g, size in enumerate(self._space.group_sizes)
        ]
        return self._space.arch(choices)

    def tell(self, arch: Architecture, value: float | None) -> None:
        violations = [c.violation(arch) for c in self._problem.constraints]
        self._trial.set_user_attr("constraints", violations)
        if value is None:
            value = self._worst if np.isfinite(self._worst) else 0.0
        else:
            self._worst = min(self._worst, value)
        self._study.tell(self._trial, value)
