"""Former home of the supernet predictor, kept so that ``budgetnas.predictors.supernet`` imports
keep working. The code now lives in modules named for what it does:

- :mod:`budgetnas.predictors.evaluator`: ``SupernetEvaluator``, ``sample_path``, ``decisions``,
  ``distribution_rng``, ``stable_hash``, ``SAMPLINGS``;
- :mod:`budgetnas.predictors.binas`: ``coefficient_table``, ``binas_form``,
  ``measure_expectations``, ``BinasPredictor``, ``interpretation``, ``CENTERS``, ``STORE_KIND``;
- :mod:`budgetnas.predictors.quality`: ``random_subnets``, ``subnet_key``,
  ``random_subnet_accuracies``, ``one_shot_scorer``, ``quality_report``, ``SUBNET_KIND``.
"""

from __future__ import annotations

from budgetnas.predictors.binas import (
    CENTERS,
    STORE_KIND,
    BinasPredictor,
    binas_form,
    coefficient_table,
    interpretation,
    measure_expectations,
)
from budgetnas.predictors.evaluator import (
    SAMPLINGS,
    SupernetEvaluator,
    decisions,
    distribution_rng,
    in_shard,
    sample_path,
    stable_hash,
)
from budgetnas.predictors.quality import (
    SUBNET_KIND,
    one_shot_scorer,
    quality_report,
    random_subnet_accuracies,
    random_subnets,
    subnet_key,
)

_in_shard = in_shard  # the former private name

__all__ = [
    "CENTERS",
    "SAMPLINGS",
    "STORE_KIND",
    "SUBNET_KIND",
    "BinasPredictor",
    "SupernetEvaluator",
    "binas_form",
    "coefficient_table",
    "decisions",
    "distribution_rng",
    "interpretation",
    "measure_expectations",
    "one_shot_scorer",
    "quality_report",
    "random_subnet_accuracies",
    "random_subnets",
    "sample_path",
    "stable_hash",
    "subnet_key",
]
