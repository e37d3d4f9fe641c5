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

from importlib import import_module
from typing import Any

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

_LAZY = {
    "Constraint": "budgetnas.costs._base",
    "CostModel": "budgetnas.costs._base",
    "FormCost": "budgetnas.costs._base",
    "FunctionCost": "budgetnas.costs._base",
    "QuadraticForm": "budgetnas.forms",
    "constraint": "budgetnas.costs.registry",
    "list_costs": "budgetnas.costs.registry",
    "register_cost": "budgetnas.costs.registry",
    "resolve_cost": "budgetnas.costs.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'budgetnas.costs' has no attribute {name!r}")
