"""Small CNNs for pruning benchmarks and tests, built by name.

Example:
    >>> from budgetnas.models import build_model, list_models
    >>> "resnet20" in list_models()
    True
    >>> net = build_model("resnet20", in_channels=1, num_classes=10)

Training one as a baseline to prune is :func:`train_baseline` (:mod:`budgetnas.models.baseline`,
``budgetnas train-baseline``); it and its configuration and result are imported on first use.
"""

from __future__ import annotations

from typing import Any

from budgetnas.lazy import lazy_dir, lazy_exports
from budgetnas.registry import Registry

MODELS: Registry = Registry(
    "model", modules=["budgetnas.models.resnet", "budgetnas.models.mobilenet"]
)
register_model = MODELS.register


def build_model(name: str, **kwargs: Any):
    """Build the model registered as ``name`` with constructor keyword arguments ``kwargs``."""
    return MODELS.create(name, **kwargs)


def list_models() -> list[str]:
    """The names of every registered model."""
    return MODELS.names()


__getattr__ = lazy_exports(
    __name__,
    {
        "BaselineTrainConfig": "budgetnas.models.baseline",
        "BaselineTrainResult": "budgetnas.models.baseline",
        "train_baseline": "budgetnas.models.baseline",
    },
)
__dir__ = lazy_dir(__name__)

__all__ = [
    "MODELS",
    "BaselineTrainConfig",
    "BaselineTrainResult",
    "build_model",
    "list_models",
    "register_model",
    "train_baseline",
]
