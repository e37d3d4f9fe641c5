"""Accuracy predictors (scikit-learn conventions), each exposing a quadratic form."""

from budgetnas.predictors._base import Predictor
from budgetnas.predictors.contributions import ContributionPredictor
from budgetnas.predictors.regression import RidgePredictor

__all__ = ["ContributionPredictor", "Predictor", "RidgePredictor"]
