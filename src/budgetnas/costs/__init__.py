"""Cost models: exact costs of architectures and their bilinear forms.

Every cost is resolved by name through :func:`resolve_cost` (``latency_ms``, ``energy_mj``,
``params_m``, ``macs_m``, ``flops_m``, ``peak_kb``); see :mod:`budgetnas.costs.registry`.
Importing the package is cheap: its names are imported from their modules when first used.
Lookup tables are in :mod:`budgetnas.costs.table` (measured by :mod:`budgetnas.costs.measure`,
keyed by :mod:`budgetnas.costs.fingerprint`, validated by :mod:`budgetnas.costs.validate`).

Example:
    >>> from budgetnas.costs import resolve_cost
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> resolve_cost("params_m", MobileNetSpace(preset="tiny")).verification
    'counted'
"""

from __future__ import annotations

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "Constraint",
    "CostModel",
    "FormCost",
    "FunctionCost",
    "QuadraticForm",
    "constraint",
    "list_costs",
    "register_cost",
    "register_module_counter",
    "resolve_cost",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Constraint": "budgetnas.costs._base",
        "CostModel": "budgetnas.costs._base",
        "FormCost": "budgetnas.costs._base",
        "FunctionCost": "budgetnas.costs._base",
        "QuadraticForm": "budgetnas.forms",
        "constraint": "budgetnas.costs.registry",
        "list_costs": "budgetnas.costs.registry",
        "register_cost": "budgetnas.costs.registry",
        "resolve_cost": "budgetnas.costs.registry",
        "register_module_counter": "budgetnas.costs.modules",
    },
)
__dir__ = lazy_dir(__name__)
