"""ONNX export checked with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["ExportError", "export_onnx"]


class ExportError(RuntimeError):
    """The exported model does not reproduce the PyTorch outputs."""


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    opset: int = 17,
) -> dict[str, float]:
    """Export ``model`` (eval mode) to ``path`` with a dynamic batch axis, run it in onnxruntime
    on ``example`` and compare with PyTorch; returns ``{"max_abs_diff": ...}``.

    Uses the TorchScript-based exporter (``dynamo=False``): it needs no extra packages.

    Example:
        >>> import tempfile, os
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
        >>> d = tempfile.mkdtemp()
        >>> export_onnx(net, torch.randn(1, 1, 5, 5), os.path.join(d, "n.onnx"))["max_abs_diff"] < 1e-5
        True
    """
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(example).cpu().numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            )
    finally:
        model.train(was_training)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": example.cpu().numpy()})[0]
    diff = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise ExportError(f"ONNX outputs differ from PyTorch by up to {diff:.3g} ({path})")
    return {"max_abs_diff": diff}
