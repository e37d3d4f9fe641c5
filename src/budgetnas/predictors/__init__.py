"""Accuracy predictors (scikit-learn conventions), each exposing a quadratic form.

Predictors register by name: ``create_predictor("binas")``, ``list_predictors()``. The package is
lazy: a name is imported from its module on first use, so importing ``budgetnas.predictors`` pulls
in neither torch nor scipy.
"""

from __future__ import annotations

from budgetnas.lazy import lazy_dir, lazy_exports
from budgetnas.predictors._base import (
    PREDICTORS,
    NotFittedError,
    Predictor,
    SamplePredictor,
    SupernetPredictor,
    create_predictor,
    list_predictors,
    register_predictor,
)

_LAZY = {
    "BinasPredictor": "budgetnas.predictors.binas",
    "ContributionPredictor": "budgetnas.predictors.contributions",
    "PathRegressionPredictor": "budgetnas.predictors.paths",
    "PredictorConfig": "budgetnas.predictors.fit",
    "PredictorResult": "budgetnas.predictors.fit",
    "RidgePredictor": "budgetnas.predictors.regression",
    "SupernetEvaluator": "budgetnas.predictors.evaluator",
    "fit_predictor": "budgetnas.predictors.fit",
}


__getattr__ = lazy_exports(__name__, _LAZY)
__dir__ = lazy_dir(__name__)


__all__ = [
    "PREDICTORS",
    "BinasPredictor",
    "ContributionPredictor",
    "NotFittedError",
    "PathRegressionPredictor",
    "Predictor",
    "PredictorConfig",
    "PredictorResult",
    "RidgePredictor",
    "SamplePredictor",
    "SupernetEvaluator",
    "SupernetPredictor",
    "create_predictor",
    "fit_predictor",
    "list_predictors",
    "register_predictor",
]
