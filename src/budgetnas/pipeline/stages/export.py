"""Stage 6: the found network as TorchScript (``model.pt``) and ONNX (``model.onnx``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["export_network", "export_stage"]


def export_stage(ctx, child) -> dict:
    return export_network(child, ctx.supernet().space, ctx.out)


def export_network(child, space, out: str | Path) -> dict:
    """Trace ``child`` to ``out/model.pt`` and export ``out/model.onnx``, each checked against
    PyTorch on a random batch; returns the differences and the input shape."""
    import torch

    from budgetnas.export.onnx import export_onnx

    out = Path(out)
    c = space.config
    example = torch.randn(2, c.in_channels, c.image_size, c.image_size)
    child = child.eval()
    with torch.no_grad():
        traced = torch.jit.trace(child, example, check_trace=False)
    traced.save(str(out / "model.pt"))
    reloaded = torch.jit.load(str(out / "model.pt"))
    with torch.no_grad():
        diff_pt = float((reloaded(example) - child(example)).abs().max())
    onnx = export_onnx(child, example, out / "model.onnx")
    return {"torchscript_max_abs_diff": diff_pt, **onnx, "input_shape": list(example.shape)}
