"""Small CNNs for pruning benchmarks and tests, built by name.

Example:
    >>> from budgetnas.models import build_model, list_models
    >>> "resnet20" in list_models()
    True
    >>> net = build_model("resnet20", in_channels=1, num_classes=10)
"""

from __future__ import annotations

from typing import Any

from budgetnas.registry import Registry

MODELS: Registry = Registry(
    "model", modules=["budgetnas.models.resnet", "budgetnas.models.mobilenet"]
)
register_model = MODELS.register


def build_model(name: str, **kwargs: Any):
    """Build the model registered as ``name`` with constructor keyword arguments ``kwargs``."""
    return MODELS.create(name, **kwargs)


def list_models() -> list[str]:
    return MODELS.names()


__all__ = ["MODELS", "build_model", "list_models", "register_model"]
