"""Optuna's samplers as constrained baselines: NSGA-II, TPE and the Gaussian-process sampler.

Each one-hot group is a categorical parameter, and each trial carries its budget violations for
``constraints_func`` (<= 0 feasible). An over-budget proposal is never queried. ``infeasible``
says how Optuna hears of it: ``"constraint"`` completes the trial with the worst objective seen
and its violations (the sampler's constraint handling ranks it below every feasible trial; the
default of TPE and GP, which stall at tight budgets otherwise), ``"fail"`` closes it as a failed
trial that the sampler ignores (the default of NSGA-II, which makes tens of thousands of
proposals at tight budgets otherwise). Repeated proposals are answered from memory. Proposals
are capped at 20 x the query budget: every trial makes the next one slower.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver

__all__ = ["GPSolver", "OptunaSolver", "TPESolver"]


def _constraints(trial) -> list[float]:
    return trial.user_attrs["constraints"]


@register_solver("optuna")
class OptunaSolver(QuerySolver):
    """NSGA-II (``optuna.samplers.NSGAIISampler``) over the one-hot groups.

    Subclasses change only :meth:`sampler`.

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
        infeasible: str = "fail",
    ):
        # an Optuna trial costs more with every trial in the study: cap the proposals (a run that
        # reaches the cap ends "stalled" with the best cell found)
        super().__init__(n_queries, seed, max_proposals or 20 * n_queries)
        if infeasible not in {"fail", "constraint"}:
            raise ValueError("infeasible must be fail or constraint")
        self.population = population
        self.infeasible = infeasible

    def sampler(self, seed: int):
        """The Optuna sampler, seeded, with the budgets as ``constraints_func``."""
        import optuna

        return optuna.samplers.NSGAIISampler(
            population_size=self.population, seed=seed, constraints_func=_constraints
        )

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        self._problem = problem
        self._space = problem.space
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings
            sampler = self.sampler(int(rng.integers(2**31)))
        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._trial: Any = None
        self._worst = np.inf

    def ask(self) -> Architecture:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._trial = self._study.ask()
            choices = [
                self._trial.suggest_categorical(f"g{g}", list(range(size)))
                for g, size in enumerate(self._space.group_sizes)
            ]
        return self._space.arch(choices)

    def tell(self, arch: Architecture, value: float | None) -> None:
        import optuna

        violations = [c.violation(arch) for c in self._problem.constraints]
        self._trial.set_user_attr("constraints", violations)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if value is None and self.infeasible == "fail":
                self._study.tell(self._trial, state=optuna.trial.TrialState.FAIL)
                return
            if value is None:
                value = self._worst if np.isfinite(self._worst) else 0.0
            else:
                self._worst = min(self._worst, value)
            self._study.tell(self._trial, value)


@register_solver("tpe")
class TPESolver(OptunaSolver):
    """Optuna's tree-structured Parzen estimator with ``constraints_func`` (c-TPE).

    ``multivariate=True`` models the groups jointly (Optuna's advice for dependent parameters);
    the first ``n_startup`` proposals are random.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("tpe", n_queries=100, n_startup=10)
    """

    name = "tpe"

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        n_startup: int = 10,
        multivariate: bool = True,
        max_proposals: int | None = None,
        infeasible: str = "constraint",
    ):
        super().__init__(n_queries, seed, max_proposals=max_proposals, infeasible=infeasible)
        self.n_startup = n_startup
        self.multivariate = multivariate

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.TPESampler(
            n_startup_trials=self.n_startup,
            multivariate=self.multivariate,
            seed=seed,
            constraints_func=_constraints,
        )


@register_solver("gp")
class GPSolver(OptunaSolver):
    """Optuna's Gaussian-process sampler (``GPSampler``, log expected improvement) with
    ``constraints_func``. Each proposal fits the process and optimizes the acquisition: about
    0.1 s per query at 100 queries on one CPU core, 50-100x the other samplers.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("gp", n_queries=50, n_startup=10)
    """

    name = "gp"
    patience = 50  # each proposal costs a fit: stop sooner once nothing new comes

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        n_startup: int = 10,
        max_proposals: int | None = None,
        infeasible: str = "constraint",
    ):
        super().__init__(n_queries, seed, max_proposals=max_proposals, infeasible=infeasible)
        self.n_startup = n_startup

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.GPSampler(
            n_startup_trials=self.n_startup, seed=seed, constraints_func=_constraints
        )
