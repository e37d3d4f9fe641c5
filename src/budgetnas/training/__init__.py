"""One-shot supernet training (stage A/B), inner distillation, evaluation of paths."""

from budgetnas.training.config import TrainConfig
from budgetnas.training.distill import inner_distillation_loss
from budgetnas.training.evaluate import accuracy, one_shot_accuracy
from budgetnas.training.supernet import SupernetTrainer, load_supernet

__all__ = [
    "SupernetTrainer",
    "TrainConfig",
    "accuracy",
    "inner_distillation_loss",
    "load_supernet",
    "one_shot_accuracy",
]
