"""The bilinear (quadratic) form over one-hot decisions, shared by costs, predictors and solvers.

A :class:`QuadraticForm` is ``const + l @ x + sum_k w_k x[i_k] x[j_k]`` over the concatenated
one-hot vector ``x`` of a space. With ``x`` one-hot it is the exact sum of a lookup table; with
``x`` a product of per-group distributions it is the expected cost, which is what the relaxed
(Frank-Wolfe) search needs. The same type holds accuracy predictors, so every solver works on
both sides of the problem through one interface (docs/methods/costs.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["QuadraticForm"]


@dataclass
class QuadraticForm:
    """``const + linear @ x + sum(w * x[i] * x[j])`` with ``i < j`` in different groups.

    Example:
        >>> q = QuadraticForm(1.0, np.array([1.0, 2.0, 0.0]), np.array([0]), np.array([2]), np.array([5.0]))
        >>> q.value(np.array([1.0, 0.0, 1.0]))
        7.0
    """

    const: float
    linear: np.ndarray
    pair_i: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    pair_j: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    pair_w: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.const = float(self.const)
        self.linear = np.asarray(self.linear, dtype=float)
        i = np.asarray(self.pair_i, dtype=int)
        j = np.asarray(self.pair_j, dtype=int)
        w = np.asarray(self.pair_w, dtype=float)
        if not (i.shape == j.shape == w.shape):
            raise ValueError("pair_i, pair_j and pair_w must have the same length")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        if np.any(lo == hi):
            raise ValueError("a pair term needs two different binaries")
        keep = w != 0
        self.pair_i, self.pair_j, self.pair_w = lo[keep], hi[keep], w[keep]

    @property
    def n(self) -> int:
        return self.linear.shape[0]

    @property
    def has_pairs(self) -> bool:
        return self.pair_w.size > 0

    @classmethod
    def zeros(cls, n: int) -> QuadraticForm:
        return cls(0.0, np.zeros(n))

    def value(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        return float(
            self.const + self.linear @ x + np.sum(self.pair_w * x[self.pair_i] * x[self.pair_j])
        )

    def values(self, X: np.ndarray) -> np.ndarray:
        """Row-wise :meth:`value` for a matrix of points."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = self.const + X @ self.linear
        if self.has_pairs:
            out = out + (X[:, self.pair_i] * X[:, self.pair_j]) @ self.pair_w
        return out

    def gradient(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        g = self.linear.copy()
        if self.has_pairs:
            np.add.at(g, self.pair_i, self.pair_w * x[self.pair_j])
            np.add.at(g, self.pair_j, self.pair_w * x[self.pair_i])
        return g

    def linear_in(self, x: np.ndarray, block: np.ndarray) -> tuple[float, np.ndarray]:
        """With every binary outside ``block`` fixed at ``x``, the form is ``c + a @ x[block]``
        provided no pair lies inside the block; returns ``(c, a)``."""
        block = np.asarray(block, dtype=int)
        inside = np.zeros(self.n, dtype=bool)
        inside[block] = True
        if self.has_pairs and np.any(inside[self.pair_i] & inside[self.pair_j]):
            raise ValueError("a pair term lies inside the block: the form is not linear in it")
        g = self.gradient(x)
        y = np.asarray(x, dtype=float).copy()
        y[block] = 0.0
        return self.value(y), g[block]

    def __add__(self, other: QuadraticForm) -> QuadraticForm:
        return QuadraticForm(
            self.const + other.const,
            self.linear + other.linear,
            np.concatenate([self.pair_i, other.pair_i]),
            np.concatenate([self.pair_j, other.pair_j]),
            np.concatenate([self.pair_w, other.pair_w]),
        ).merged()

    def scaled(self, factor: float, shift: float = 0.0) -> QuadraticForm:
        return QuadraticForm(
            self.const * factor + shift,
            self.linear * factor,
            self.pair_i,
            self.pair_j,
            self.pair_w * factor,
        )

    def merged(self) -> QuadraticForm:
        """Sum duplicate pair terms."""
        if not self.has_pairs:
            return self
        keys = self.pair_i * self.n + self.pair_j
        uniq, inv = np.unique(keys, return_inverse=True)
        w = np.bincount(inv, weights=self.pair_w)
        return QuadraticForm(self.const, self.linear, uniq // self.n, uniq % self.n, w)

    def to_dict(self) -> dict[str, Any]:
        """The form as JSON-ready lists (``const``, ``linear``, ``pair_i``, ``pair_j``,
        ``pair_w``); :meth:`from_dict` reads it back exactly."""
        return {
            "const": self.const,
            "linear": self.linear.tolist(),
            "pair_i": self.pair_i.tolist(),
            "pair_j": self.pair_j.tolist(),
            "pair_w": self.pair_w.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuadraticForm:
        missing = {"const", "linear", "pair_i", "pair_j", "pair_w"} - set(data)
        if missing:
            raise ValueError(f"not a quadratic form: missing {', '.join(sorted(missing))}")
        return cls(
            data["const"],
            np.asarray(data["linear"], dtype=float),
            np.asarray(data["pair_i"], dtype=int),
            np.asarray(data["pair_j"], dtype=int),
            np.asarray(data["pair_w"], dtype=float),
        )
