"""Export networks (ONNX) with a check that the exported outputs match PyTorch's.

The names below are imported on first use (they need torch and onnx).
"""

from __future__ import annotations

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = ["ExportError", "export_onnx"]

__getattr__ = lazy_exports(
    __name__,
    {
        "ExportError": "budgetnas.export.onnx",
        "export_onnx": "budgetnas.export.onnx",
    },
)
__dir__ = lazy_dir(__name__)
