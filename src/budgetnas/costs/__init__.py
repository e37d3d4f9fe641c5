"""Cost models: exact costs of architectures and their bilinear forms.

Every cost is resolved by name through :func:`resolve_cost` (``latency_ms``, ``energy_mj``,
``params_m``, ``macs_m``, ``flops_m``, ``peak_kb``); see :mod:`budgetnas.costs.registry`.
"""

from budgetnas.costs._base import Constraint, CostModel, FormCost, FunctionCost
from budgetnas.costs.registry import constraint, list_costs, register_cost, resolve_cost
from budgetnas.forms import QuadraticForm

__all__ = [
    "Constraint",
    "CostModel",
    "FormCost",
    "FunctionCost",
    "QuadraticForm",
    "constraint",
    "list_costs",
    "register_cost",
    "resolve_cost",
]
