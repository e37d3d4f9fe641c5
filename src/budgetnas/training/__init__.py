"""One-shot supernet training (stage A/B), inner distillation, evaluation of paths.

The names below are imported on first use: :mod:`budgetnas.training.config` needs no torch, so a
configuration can be read, checked and written on a machine without it.
"""

from __future__ import annotations

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "SupernetTrainer",
    "TrainConfig",
    "TrainedSupernet",
    "accuracy",
    "inner_distillation_loss",
    "load_supernet",
    "one_shot_accuracy",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "TrainConfig": "budgetnas.training.config",
        "inner_distillation_loss": "budgetnas.training.distill",
        "accuracy": "budgetnas.training.evaluate",
        "one_shot_accuracy": "budgetnas.training.evaluate",
        "SupernetTrainer": "budgetnas.training.supernet",
        "load_supernet": "budgetnas.training.supernet",
        "TrainedSupernet": "budgetnas.training.trained",
    },
)
__dir__ = lazy_dir(__name__)
