"""Accuracy predictors over one-hot decisions, following scikit-learn's estimator rules:
``__init__`` stores arguments, ``fit`` returns ``self``, fitted attributes end in ``_``.

Every predictor here is a quadratic form in the decisions, so the exact solvers can optimize it
(:meth:`Predictor.quadratic_form`). Predictors are fitted in one of two ways:
:class:`SamplePredictor` from measured samples ``fit(X, y)``, :class:`SupernetPredictor` from a
supernet evaluator ``fit(evaluator)`` (docs/methods/predictors.md). Each registers under a name
(:func:`register_predictor`) and is built by :func:`create_predictor`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.registry import Registry

__all__ = [
    "PREDICTORS",
    "NotFittedError",
    "Predictor",
    "SamplePredictor",
    "SupernetPredictor",
    "check_xy",
    "create_predictor",
    "list_predictors",
    "register_predictor",
]


class NotFittedError(RuntimeError):
    """A predictor was used before it was fitted."""


class Predictor(ABC):
    """A fitted predictor is a quadratic form over the one-hot decisions.

    Subclasses implement ``fit`` (returning ``self``, fitted attributes ending in ``_``) and
    :meth:`quadratic_form`; :meth:`predict` and :meth:`predict_archs` follow from the form.
    """

    # how to fit, for the error raised on use before fitting
    fit_hint = "fit()"

    @abstractmethod
    def fit(self, *args, **kwargs) -> Predictor:
        """Fit the predictor; returns ``self``."""

    @abstractmethod
    def quadratic_form(self) -> QuadraticForm:
        """The fitted predictor as a quadratic form over the one-hot decisions."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for one-hot rows ``X`` (n_samples x n_binaries)."""
        self._check_fitted()
        return self.quadratic_form().values(X)

    def predict_archs(self, archs: Sequence[Architecture], space=None) -> np.ndarray:
        """Predictions for architectures of ``space`` (default: the space fitted on, ``space_``)."""
        self._check_fitted()
        space = space if space is not None else getattr(self, "space_", None)
        if space is None:
            raise ValueError(
                f"{type(self).__name__} was fitted on one-hot rows; pass the space of the archs"
            )
        return self.predict(space.encode_many(archs))

    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(f"{type(self).__name__} is not fitted; call {self.fit_hint} first")

    def get_params(self) -> dict:
        """The arguments of ``__init__`` (``type(p)(**p.get_params())`` is an unfitted copy)."""
        import inspect

        names = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in names if k != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class SamplePredictor(Predictor):
    """A predictor fitted on measured samples: one-hot rows ``X`` and their values ``y``."""

    fit_hint = "fit(X, y)"

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> SamplePredictor:
        """Fit on one-hot rows ``X`` (n_samples x n_binaries) and measured values ``y``."""


class SupernetPredictor(Predictor):
    """A predictor fitted on a supernet through its evaluator
    (:class:`~budgetnas.predictors.evaluator.SupernetEvaluator`); fitting sets ``space_``."""

    fit_hint = "fit(evaluator)"

    @abstractmethod
    def fit(self, evaluator) -> SupernetPredictor:
        """Fit on the expectations (or paths) measured by ``evaluator``."""


PREDICTORS: Registry[Predictor] = Registry(
    "predictor",
    modules=[
        "budgetnas.predictors.contributions",
        "budgetnas.predictors.regression",
        "budgetnas.predictors.binas",
        "budgetnas.predictors.paths",
    ],
)
register_predictor = PREDICTORS.register


def create_predictor(name: str, **kwargs) -> Predictor:
    """Build the (unfitted) predictor registered as ``name`` with its keyword arguments.

    Example:
        >>> create_predictor("ridge", alpha=0.5)
        RidgePredictor(alpha=0.5, pairs=None, pair_alpha=None)
    """
    return PREDICTORS.create(name, **kwargs)


def list_predictors() -> list[str]:
    """The registered predictor names."""
    return PREDICTORS.names()


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
