"""Predictor-guided search for the tabular case (IQNAS): query a few random feasible
architectures, fit a predictor, take the best not-yet-evaluated feasible architecture under it
(an integer program), query it, refit, until the query budget is spent."""

from __future__ import annotations

from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.predictors import ContributionPredictor, RidgePredictor
from budgetnas.predictors._base import Predictor
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver
from budgetnas.search.errors import SearchExhausted, SolverFailedError
from budgetnas.search.program import ENUMERATION_LIMIT
from budgetnas.search.proposals import rank_scores
from budgetnas.spaces.table import pair_indices

__all__ = ["IQNASSolver", "make_predictor"]


def make_predictor(kind: str, space, alpha: float) -> Predictor:
    if kind == "ridge-pairwise":
        return RidgePredictor(alpha=alpha, pairs=pair_indices(space))
    if kind == "ridge":
        return RidgePredictor(alpha=alpha)
    if kind == "contributions":
        return ContributionPredictor(shrinkage=alpha)
    raise ValueError(f"unknown predictor {kind!r}: use ridge-pairwise, ridge or contributions")


@register_solver("iqnas")
class IQNASSolver(QuerySolver):
    """Fit-and-optimize search; one query = one measurement of the true objective.

    ``inner`` picks how the best unevaluated feasible architecture is found: ``"milp"`` (the
    integer program with no-good cuts for evaluated and over-budget architectures; scales to any
    space), ``"enumerate"`` (exact listing, small spaces only), or ``"auto"`` (enumerate when the
    space has at most 200,000 points). Both are exact; they differ in speed.

    Defaults were chosen on NAS-Bench-201 (docs/BENCHMARKS.md): first-order ridge on the rank
    of the measured values (robust to the collapsed cells near 10% accuracy), greedy choice.
    ``predictor="ridge-pairwise"`` adds edge-pair terms; ``explore="bootstrap"`` fits a resample
    of the evidence each step (Thompson-style exploration).

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("iqnas", n_queries=100, n_init=20, seed=0)
    """

    name = "iqnas"

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        n_init: int = 20,
        predictor: str = "ridge",
        alpha: float = 0.1,
        inner: str = "auto",
        target: str = "rank",
        explore: str = "greedy",
        max_proposals: int | None = None,
    ):
        super().__init__(n_queries, seed, max_proposals)
        if n_init < 1:
            raise ValueError("n_init must be at least 1")
        if inner not in {"auto", "milp", "enumerate"}:
            raise ValueError("inner must be auto, milp or enumerate")
        if target not in {"raw", "rank"}:
            raise ValueError("target must be raw or rank")
        if explore not in {"greedy", "bootstrap"}:
            raise ValueError("explore must be greedy or bootstrap")
        self.target = target
        self.explore = explore
        self.n_init = n_init
        self.predictor = predictor
        self.alpha = alpha
        self.inner = inner

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        self._problem = problem
        self._space = problem.space
        self._rng = rng
        self._evaluated: dict[Architecture, float] = {}
        inner = self.inner
        if inner == "auto":
            inner = "enumerate" if problem.space.size <= ENUMERATION_LIMIT else "milp"
        self._inner = inner
        if inner == "enumerate":
            from budgetnas.search.exhaustive import feasible_mask

            archs = list(problem.space.all_archs())
            ok = feasible_mask(problem, archs)
            self._feasible = [a for a, f in zip(archs, ok, strict=True) if f]
            self._X = problem.space.encode_many(self._feasible)
            self._row = {a: k for k, a in enumerate(self._feasible)}
        else:
            from budgetnas.search.milp import MILPSolver

            self._milp = MILPSolver(time_limit=30.0)
        self._model: Predictor | None = None

    def ask(self) -> Architecture:
        if len(self._evaluated) < min(self.n_init, max(1, self.n_queries // 2)):
            if self._inner == "enumerate":
                free = [a for a in self._feasible if a not in self._evaluated]
                if not free:
                    raise SearchExhausted("every feasible architecture has been evaluated")
                return free[int(self._rng.integers(len(free)))]
            return self._space.sample(self._rng)
        if self._model is None:
            archs = list(self._evaluated)
            X = self._space.encode_many(archs)
            y = np.array([self._evaluated[a] for a in archs])
            if self.explore == "bootstrap":  # Thompson-style: fit a resample of the evidence
                pick = self._rng.integers(len(y), size=len(y))
                X, y = X[pick], y[pick]
            if self.target == "rank":  # scale-free, robust to the collapsed cells' outliers
                y = rank_scores(y)
            self._model = make_predictor(self.predictor, self._space, self.alpha).fit(X, y)
        form = self._model.quadratic_form()
        if self._inner == "enumerate":
            scores = form.values(self._X)
            for a in self._evaluated:
                if a in self._row:
                    scores[self._row[a]] = -np.inf
            best = int(np.argmax(scores))
            if not np.isfinite(scores[best]):
                raise SearchExhausted("every feasible architecture has been evaluated")
            return self._feasible[best]
        self._milp.exclude = set(self._evaluated)
        sub = Problem(self._space, self._problem.constraints, objective=form)
        sub.achievable_key = self._problem.achievable_key
        try:
            return self._milp.solve(sub).arch
        except SolverFailedError as err:
            if "no architecture is left" in str(err):
                raise SearchExhausted(str(err)) from err
            raise

    def tell(self, arch: Architecture, value: float | None) -> None:
        if value is not None and arch not in self._evaluated:
            self._evaluated[arch] = value
            self._model = None  # refit on the next ask

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        arch, info = super()._solve(problem)
        info["status"] = f"{info['status']} (inner={self._inner}, predictor={self.predictor})"
        return arch, info
