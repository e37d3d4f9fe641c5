"""One-shot supernet training (stage A/B), inner distillation, evaluation of paths.

The names below are imported on first use: :mod:`budgetnas.training.config` needs no torch, so a
configuration can be read, checked and written on a machine without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "SupernetTrainer",
    "TrainConfig",
    "accuracy",
    "inner_distillation_loss",
    "load_supernet",
    "one_shot_accuracy",
]

_LAZY = {
    "TrainConfig": "budgetnas.training.config",
    "inner_distillation_loss": "budgetnas.training.distill",
    "accuracy": "budgetnas.training.evaluate",
    "one_shot_accuracy": "budgetnas.training.evaluate",
    "SupernetTrainer": "budgetnas.training.supernet",
    "load_supernet": "budgetnas.training.supernet",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'budgetnas.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
