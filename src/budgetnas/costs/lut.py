"""Lookup tables of measured block costs: the older single import path, kept for its users.

The code lives in three modules named for what they do; this one re-exports their public names:

* :mod:`budgetnas.costs.fingerprint`: ``cpu_model``, ``current_fingerprint``, ``fingerprint_id``,
  ``fingerprint_diff``, ``FingerprintMismatch``, ``check_fingerprint``, ``STRUCTURAL``;
* :mod:`budgetnas.costs.table`: ``CostTable`` (``LatencyTable``), ``LookupTableCost`` (formerly
  ``TableCost``, still importable here under that name), ``distinct_descriptors``, ``load_table``,
  ``stored_fingerprints``, ``import_table``, ``fit_correction`` and the store kinds
  ``TABLE_KIND``, ``ENTRY_KIND``, ``CORRECTION_KIND``, ``STATS``;
* :mod:`budgetnas.costs.measure`: ``build_table`` and the torch modules and runners it times.

Example:
    >>> from budgetnas.costs.lut import CostTable, build_table
    >>> CostTable.__module__
    'budgetnas.costs.table'
"""

from __future__ import annotations

from budgetnas.costs.fingerprint import (
    STRUCTURAL,
    FingerprintMismatch,
    check_fingerprint,
    cpu_model,
    current_fingerprint,
    fingerprint_diff,
    fingerprint_id,
)
from budgetnas.costs.measure import block_module, build_table
from budgetnas.costs.table import (
    CORRECTION_KIND,
    ENTRY_KIND,
    FORMAT_VERSION,
    METRIC_UNITS,
    STATS,
    TABLE_KIND,
    CostTable,
    LatencyTable,
    LookupTableCost,
    distinct_descriptors,
    fit_correction,
    import_table,
    load_table,
    stored_fingerprints,
)

#: the former name of :class:`~budgetnas.costs.table.LookupTableCost`
TableCost = LookupTableCost

__all__ = [
    "CORRECTION_KIND",
    "ENTRY_KIND",
    "FORMAT_VERSION",
    "METRIC_UNITS",
    "STATS",
    "STRUCTURAL",
    "TABLE_KIND",
    "CostTable",
    "FingerprintMismatch",
    "LatencyTable",
    "LookupTableCost",
    "TableCost",
    "block_module",
    "build_table",
    "check_fingerprint",
    "cpu_model",
    "current_fingerprint",
    "distinct_descriptors",
    "fingerprint_diff",
    "fingerprint_id",
    "fit_correction",
    "import_table",
    "load_table",
    "stored_fingerprints",
]
