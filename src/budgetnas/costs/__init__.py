"""Cost models: exact costs of architectures and their bilinear forms."""

from budgetnas.costs._base import Constraint, CostModel, FormCost, FunctionCost, QuadraticForm

__all__ = ["Constraint", "CostModel", "FormCost", "FunctionCost", "QuadraticForm"]
