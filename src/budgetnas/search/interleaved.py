"""Interleaved search: three ways of choosing the next query take turns on shared evidence.

After ``n_init`` random feasible cells, the proposals cycle through ``cycle`` (default ``"rgx"``):

- ``r``: the best unevaluated feasible cell under a first-order ridge fit to the normal scores
  of the measured values' ranks (what ``iqnas`` does at every query);
- ``g``: the unevaluated feasible cell of highest expected improvement under a Gaussian process
  whose kernel is ``exp(-d / l)``, ``d`` the number of decisions in which two cells differ (it
  models interactions of every order; ``l`` is chosen by marginal likelihood at every fit);
- ``x``: a uniformly random feasible unevaluated cell.

Each arm fails where another does not: the additive ridge is fast and right on most budgets but
can lock onto one family of cells when the best feasible cells owe their accuracy to an
interaction (on NAS-Bench-201 under FPGA+Eyeriss budgets at quantile 0.1 it stayed 1.3 points
short while random search came within 0.5); the process explores where it is unsure; random
cells keep every region in the evidence. Chosen on the tuning half of ``bench nb201 --protocol
robust`` (docs/BENCHMARKS.md).

Candidates are every feasible cell when the space has at most 200,000 (exact argmax over
them); in larger spaces, one- and two-decision mutations of the best cells found plus random
samples, feasible ones only.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.stats import norm

from budgetnas.arch import Architecture
from budgetnas.predictors import RidgePredictor
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver
from budgetnas.search.errors import SearchExhausted
from budgetnas.search.program import ENUMERATION_LIMIT
from budgetnas.search.proposals import feasible_mutations, rank_scores

__all__ = ["HammingGP", "InterleavedSolver", "expected_improvement"]


class HammingGP:
    """Gaussian process on one-hot cells with kernel ``exp(-d / l)``, ``d`` the Hamming distance
    between the decisions (``n_groups - x . x'``), unit signal variance and ``noise``; ``l`` is
    the one of ``scales`` with the highest marginal likelihood.

    Example:
        >>> X = np.eye(3)[[0, 1, 2, 0]]  # one group of three choices
        >>> gp = HammingGP(n_groups=1).fit(X[:3], np.array([0.0, 1.0, 2.0]))
        >>> mean, sd = gp.predict(X[3:])
        >>> round(float(mean[0]), 1), bool(sd[0] < 0.2)  # the first cell again: its value
        (0.0, True)
    """

    def __init__(self, n_groups: int, noise: float = 1e-2, scales=(0.5, 1.0, 2.0, 4.0, 8.0)):
        self.n_groups, self.noise, self.scales = n_groups, noise, tuple(scales)

    def fit(self, X: np.ndarray, z: np.ndarray) -> HammingGP:
        self._X = np.asarray(X, dtype=float)
        n = len(z)
        d = self.n_groups - self._X @ self._X.T
        self._mean = float(np.mean(z))
        best = None
        for scale in self.scales:
            try:
                chol = np.linalg.cholesky(np.exp(-d / scale) + self.noise * np.eye(n))
            except np.linalg.LinAlgError:
                continue
            alpha = cho_solve((chol, True), z - self._mean)
            loglik = -0.5 * (z - self._mean) @ alpha - np.log(np.diag(chol)).sum()
            if best is None or loglik > best[0]:
                best = (loglik, scale, chol, alpha)
        if best is None:
            raise np.linalg.LinAlgError("no length scale gives a positive definite kernel")
        _, self.scale, self._chol, self._alpha = best
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at the rows of ``X``."""
        k = np.exp(-(self.n_groups - np.asarray(X, dtype=float) @ self._X.T) / self.scale)
        mean = self._mean + k @ self._alpha
        v = solve_triangular(self._chol, k.T, lower=True)
        var = np.maximum(1.0 + self.noise - (v * v).sum(axis=0), 1e-12)
        return mean, np.sqrt(var)


def expected_improvement(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    gain = mean - best
    u = gain / sd
    return gain * norm.cdf(u) + sd * norm.pdf(u)


@register_solver("interleaved")
class InterleavedSolver(QuerySolver):
    """Ridge greedy, Gaussian-process expected improvement and random cells, taking turns.

    Example:
        >>> from budgetnas.search import create_solver
        >>> from budgetnas.testing.problems import random_problem
        >>> problem = random_problem(0, sizes=(4, 4, 4, 4))
        >>> result = create_solver("interleaved", n_queries=30, seed=0).solve(problem)
        >>> result.feasible
        True
    """

    name = "interleaved"
    ARMS: ClassVar[dict[str, str]] = {"r": "ridge", "g": "gp", "x": "random"}

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        n_init: int = 20,
        cycle: str = "rgx",
        alpha: float = 0.1,
        candidates: int = 500,
        max_proposals: int | None = None,
    ):
        super().__init__(n_queries, seed, max_proposals)
        if n_init < 1:
            raise ValueError("n_init must be at least 1")
        if not cycle or set(cycle) - set(self.ARMS):
            raise ValueError(f"cycle {cycle!r}: a string of r (ridge), g (GP) and x (random)")
        self.n_init, self.cycle, self.alpha, self.candidates = n_init, cycle, alpha, candidates

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        self._problem, self._space, self._rng = problem, problem.space, rng
        self._values: dict[Architecture, float] = {}
        self._rejected: set[Architecture] = set()
        self._enumerated = problem.space.size <= ENUMERATION_LIMIT
        if self._enumerated:
            from budgetnas.search.exhaustive import feasible_mask

            archs = list(problem.space.all_archs())
            ok = feasible_mask(problem, archs)
            self._pool = [a for a, f in zip(archs, ok, strict=True) if f]
            self._pool_X = problem.space.encode_many(self._pool)
            self._free = np.ones(len(self._pool), dtype=bool)
            self._row = {a: k for k, a in enumerate(self._pool)}

    # ---- candidates ------------------------------------------------------------------------------
    def _candidates(self) -> tuple[list[Architecture], np.ndarray]:
        """Feasible, unevaluated cells to choose among, and their one-hot rows."""
        if self._enumerated:
            idx = np.flatnonzero(self._free)
            if not idx.size:
                raise SearchExhausted("every feasible architecture has been evaluated")
            return [self._pool[i] for i in idx], self._pool_X[idx]
        best = sorted(self._values, key=self._values.__getitem__, reverse=True)[:10]
        archs = feasible_mutations(
            self._problem,
            self._rng,
            best,
            self.candidates,
            20 * self.candidates,
            self._values,
            self._rejected,
            mix_random=True,
        )
        if not archs:
            raise SearchExhausted("no feasible unevaluated candidate was found")
        return archs, self._space.encode_many(archs)

    def _random(self) -> Architecture:
        if self._enumerated:
            idx = np.flatnonzero(self._free)
            if not idx.size:
                raise SearchExhausted("every feasible architecture has been evaluated")
            return self._pool[int(idx[self._rng.integers(idx.size)])]
        return self._space.sample(self._rng)  # the loop rejects over-budget samples for free

    # ---- ask/tell --------------------------------------------------------------------------------
    def arm(self) -> str:
        """The arm of the next proposal: ``random`` during the start, then the cycle's turn."""
        n = len(self._values)
        if n < min(self.n_init, max(1, self.n_queries // 2)):
            return "random"
        return self.ARMS[self.cycle[(n - self.n_init) % len(self.cycle)]]

    def ask(self) -> Architecture:
        arm = self.arm()
        if arm == "random":
            return self._random()
        archs, X = self._candidates()
        seen = list(self._values)
        z = rank_scores(np.array([self._values[a] for a in seen]))
        Xs = self._space.encode_many(seen)
        if arm == "ridge":
            scores = RidgePredictor(alpha=self.alpha).fit(Xs, z).predict(X)
        else:
            gp = HammingGP(self._space.n_groups).fit(Xs, z)
            mean, sd = gp.predict(X)
            scores = expected_improvement(mean, sd, float(z.max()))
        return archs[int(np.argmax(scores))]

    def tell(self, arch: Architecture, value: float | None) -> None:
        if value is None:
            self._rejected.add(arch)
            return
        if arch not in self._values:
            self._values[arch] = value
            if self._enumerated and arch in self._row:
                self._free[self._row[arch]] = False
