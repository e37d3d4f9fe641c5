"""Accuracy predictors over one-hot decisions, following scikit-learn's estimator rules:
``__init__`` stores arguments, ``fit(X, y)`` returns ``self``, fitted attributes end in ``_``.

Every predictor here is a quadratic form in the decisions, so the exact solvers can optimize it
(:meth:`Predictor.quadratic_form`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from budgetnas.forms import QuadraticForm


class Predictor(ABC):
    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        """Fit on one-hot rows ``X`` (n_samples x n_binaries) and measured values ``y``."""

    @abstractmethod
    def quadratic_form(self) -> QuadraticForm:
        """The fitted predictor as a quadratic form over the one-hot decisions."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.quadratic_form().values(X)

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X, y) first")

    def get_params(self) -> dict:
        import inspect

        names = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in names if k != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def check_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.atleast_2d(np.asarray(X, dtype=float))
    y = np.asarray(y, dtype=float).ravel()
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} values")
    if X.shape[0] == 0:
        raise ValueError("cannot fit on zero samples")
    if not np.all(np.isfinite(y)):
        raise ValueError("y has non-finite values")
    return X, y
