"""Export networks (ONNX) with a check that the exported outputs match PyTorch's."""

from budgetnas.export.onnx import ExportError, export_onnx

__all__ = ["ExportError", "export_onnx"]
