"""A BANANAS-style search (White et al., 2021): an ensemble of neural predictors and Thompson
sampling over candidates made by mutating the best cells found.

Each round fits ``ensemble`` small MLPs (different initializations, the same evidence) on the
measured values, makes candidates by mutating the best evaluated cells (over-budget and seen ones
are dropped for free), draws one value per candidate from the normal distribution of the
ensemble's predictions (independent Thompson sampling, BANANAS' ``its`` acquisition), and queries
the ``batch`` highest draws before refitting.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, QuerySolver
from budgetnas.search.proposals import feasible_mutations, rank_scores

__all__ = ["BananasSolver", "MLPEnsemble"]


class MLPEnsemble:
    """``members`` two-hidden-layer ReLU networks trained full-batch with Adam on squared error.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.integers(0, 2, size=(40, 6)).astype(float)
        >>> model = MLPEnsemble(members=3, epochs=100).fit(X, X @ np.arange(6.0), rng)
        >>> mean, std = model.predict(X)
        >>> mean.shape, bool((std >= 0).all())
        ((40,), True)
    """

    def __init__(self, members: int = 5, hidden: int = 32, epochs: int = 150, lr: float = 0.01):
        self.members, self.hidden, self.epochs, self.lr = members, hidden, epochs, lr
        self._nets: list[list[np.ndarray]] = []

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> MLPEnsemble:
        self._mu, self._sd = float(y.mean()), float(y.std() or 1.0)
        t = (y - self._mu) / self._sd
        self._nets = [self._train(X, t, rng) for _ in range(self.members)]
        return self

    def _train(self, X: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        d, h = X.shape[1], self.hidden
        params = [
            rng.normal(0, np.sqrt(2 / d), (d, h)),
            np.zeros(h),
            rng.normal(0, np.sqrt(2 / h), (h, h)),
            np.zeros(h),
            rng.normal(0, np.sqrt(1 / h), h),
            np.zeros(1),
        ]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        n = len(t)
        for step in range(1, self.epochs + 1):
            W1, b1, W2, b2, w3, b3 = params
            a1 = X @ W1 + b1
            h1 = np.maximum(a1, 0)
            a2 = h1 @ W2 + b2
            h2 = np.maximum(a2, 0)
            err = (h2 @ w3 + b3) - t  # d(mean squared error)/d(output) up to 2/n
            g_out = 2 * err / n
            gw3, gb3 = h2.T @ g_out, np.array([g_out.sum()])
            g2 = np.outer(g_out, w3) * (a2 > 0)
            gW2, gb2 = h1.T @ g2, g2.sum(0)
            g1 = (g2 @ W2.T) * (a1 > 0)
            gW1, gb1 = X.T @ g1, g1.sum(0)
            for k, g in enumerate([gW1, gb1, gW2, gb2, gw3, gb3]):
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                mhat = m[k] / (1 - 0.9**step)
                vhat = v[k] / (1 - 0.999**step)
                params[k] = params[k] - self.lr * mhat / (np.sqrt(vhat) + 1e-8)
        return params

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the members' predictions, in the targets' units."""
        outs = []
        for W1, b1, W2, b2, w3, b3 in self._nets:
            h2 = np.maximum(np.maximum(X @ W1 + b1, 0) @ W2 + b2, 0)
            outs.append(h2 @ w3 + b3)
        preds = np.array(outs) * self._sd + self._mu
        return preds.mean(0), preds.std(0)


@register_solver("bananas")
class BananasSolver(QuerySolver):
    """Neural-ensemble Bayesian optimization with mutation candidates, under hard budgets.

    The targets are the normal scores of the measured values' ranks (robust to the collapsed
    cells near 10% accuracy). ``n_init`` random feasible cells come first.

    Example:
        >>> from budgetnas.search import create_solver
        >>> from budgetnas.testing.problems import random_problem
        >>> problem = random_problem(0, sizes=(4, 4, 4, 4))
        >>> result = create_solver("bananas", n_queries=30, seed=0).solve(problem)
        >>> result.feasible
        True
    """

    name = "bananas"

    def __init__(
        self,
        n_queries: int = 100,
        seed: int | None = 0,
        n_init: int = 10,
        batch: int = 10,
        candidates: int = 100,
        parents: int = 10,
        members: int = 5,
        epochs: int = 150,
        max_proposals: int | None = None,
    ):
        super().__init__(n_queries, seed, max_proposals)
        if min(n_init, batch, candidates, parents, members) < 1:
            raise ValueError("n_init, batch, candidates, parents and members must be >= 1")
        self.n_init, self.batch, self.candidates = n_init, batch, candidates
        self.parents, self.members, self.epochs = parents, members, epochs

    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        self._problem = problem
        self._space = problem.space
        self._rng = rng
        self._values: dict[Architecture, float] = {}
        self._rejected: set[Architecture] = set()
        self._queue: deque[Architecture] = deque()
        self._random_asks = 0  # after a round with no new feasible mutation: asks left at random

    def _refill(self) -> None:
        best = sorted(self._values, key=self._values.__getitem__, reverse=True)[: self.parents]
        cands = feasible_mutations(
            self._problem,
            self._rng,
            best,
            self.candidates,
            10 * self.candidates,
            self._values,
            self._rejected,
        )
        if not cands:
            return
        archs = list(self._values)
        y = rank_scores(np.array([self._values[a] for a in archs]))
        model = MLPEnsemble(members=self.members, epochs=self.epochs)
        model.fit(self._space.encode_many(archs), y, self._rng)
        mean, std = model.predict(self._space.encode_many(cands))
        draws = self._rng.normal(mean, std)
        order = np.argsort(-draws)[: self.batch]
        self._queue.extend(cands[i] for i in order)

    def ask(self) -> Architecture:
        if len(self._values) < self.n_init:
            return self._space.sample(self._rng)
        if not self._queue and self._random_asks <= 0:
            self._refill()
            if not self._queue:  # no new feasible mutation: the next batch explores at random
                self._random_asks = self.batch
        if not self._queue:
            self._random_asks -= 1
            return self._space.sample(self._rng)
        return self._queue.popleft()

    def tell(self, arch: Architecture, value: float | None) -> None:
        if value is None:
            self._rejected.add(arch)
        else:
            self._values[arch] = value
