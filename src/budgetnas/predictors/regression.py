"""Ridge regression on first-order and (optionally) pairwise one-hot features."""

from __future__ import annotations

import numpy as np

from budgetnas.forms import QuadraticForm
from budgetnas.predictors._base import SamplePredictor, check_xy, register_predictor

__all__ = ["RidgePredictor"]


@register_predictor("ridge")
class RidgePredictor(SamplePredictor):
    """``y ~ b + w @ x + sum_{(i,j)} v_ij x_i x_j``, L2-penalized, intercept not penalized.

    ``pairs`` lists the pairwise features as two index arrays (for a space:
    :func:`budgetnas.spaces.table.pair_indices`); ``None`` fits first-order terms only.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = np.eye(3)[rng.integers(3, size=50)]
        >>> y = X @ np.array([1.0, 2.0, 3.0])
        >>> p = RidgePredictor(alpha=1e-6).fit(X, y)
        >>> bool(np.allclose(p.predict(X), y, atol=1e-4))
        True
    """

    def __init__(
        self,
        alpha: float = 1.0,
        pairs: tuple[np.ndarray, np.ndarray] | None = None,
        pair_alpha: float | None = None,
    ):
        self.alpha = alpha
        self.pairs = pairs
        self.pair_alpha = pair_alpha

    def _features(self, X: np.ndarray) -> np.ndarray:
        if self.pairs is None:
            return X
        i, j = self.pairs
        return np.column_stack([X, X[:, i] * X[:, j]])

    def fit(self, X: np.ndarray, y: np.ndarray) -> RidgePredictor:
        X, y = check_xy(X, y)
        if self.alpha < 0:
            raise ValueError("alpha must be >= 0")
        F = self._features(X)
        mean_f = F.mean(axis=0)
        mean_y = y.mean()
        Fc = F - mean_f
        penalty = np.full(F.shape[1], float(self.alpha))
        if self.pairs is not None:
            penalty[X.shape[1] :] = self.alpha if self.pair_alpha is None else self.pair_alpha
        # solve in the cheaper of the primal/dual forms
        if F.shape[1] <= F.shape[0]:
            A = Fc.T @ Fc + np.diag(penalty + 1e-12)
            w = np.linalg.solve(A, Fc.T @ (y - mean_y))
        else:
            D = 1.0 / (penalty + 1e-12)
            K = (Fc * D) @ Fc.T + np.eye(F.shape[0])
            w = D * (Fc.T @ np.linalg.solve(K, y - mean_y))
        self.n_features_in_ = X.shape[1]
        self.coef_ = w[: X.shape[1]]
        self.pair_coef_ = w[X.shape[1] :]
        self.intercept_ = float(mean_y - mean_f @ w)
        return self

    def quadratic_form(self) -> QuadraticForm:
        self._check_fitted()
        if self.pairs is None:
            return QuadraticForm(self.intercept_, self.coef_)
        i, j = self.pairs
        return QuadraticForm(self.intercept_, self.coef_, i, j, self.pair_coef_).merged()
