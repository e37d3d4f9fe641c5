"""Export networks (ONNX) with a check that the exported outputs match PyTorch's.

The names below are imported on first use (they need torch and onnx).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ExportError", "export_onnx"]

_LAZY = {
    "ExportError": "budgetnas.export.onnx",
    "export_onnx": "budgetnas.export.onnx",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'budgetnas.export' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
