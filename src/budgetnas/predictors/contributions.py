"""Beyond-average contributions (BINAS / IQNAS, docs/methods/predictors.md), estimated from
evaluated architectures: ``A0`` is the mean measured value and each decision's coefficient is
``E[y | decision] - A0``, the average over the architectures that took it, shrunk towards 0 when
few did."""

from __future__ import annotations

import numpy as np

from budgetnas.forms import QuadraticForm
from budgetnas.predictors._base import SamplePredictor, check_xy, register_predictor

__all__ = ["ContributionPredictor"]


@register_predictor("contributions")
class ContributionPredictor(SamplePredictor):
    """``y ~ A0 + sum_i d_i x_i`` with ``d_i = n_i / (n_i + shrinkage) * (mean(y | x_i = 1) - A0)``.

    Example:
        >>> X = np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [0, 1, 0, 1]], float)
        >>> p = ContributionPredictor(shrinkage=0.0).fit(X, np.array([4.0, 2.0, 3.0, 1.0]))
        >>> float(p.intercept_), p.coef_.tolist()
        (2.5, [1.0, -1.0, 0.5, -0.5])
    """

    def __init__(self, shrinkage: float = 1.0):
        self.shrinkage = shrinkage

    def fit(self, X: np.ndarray, y: np.ndarray) -> ContributionPredictor:
        X, y = check_xy(X, y)
        if self.shrinkage < 0:
            raise ValueError("shrinkage must be >= 0")
        self.intercept_ = float(y.mean())
        counts = X.sum(axis=0)
        sums = X.T @ (y - self.intercept_)
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = sums / (counts + self.shrinkage)
        self.coef_ = np.where(counts > 0, coef, 0.0)
        self.counts_ = counts
        return self

    def quadratic_form(self) -> QuadraticForm:
        self._check_fitted()
        return QuadraticForm(self.intercept_, self.coef_)
