"""Stage 6: the found network as TorchScript (``model.pt``) and ONNX (``model.onnx``)."""

from __future__ import annotations

from pathlib import Path

from budgetnas.files import atomic_path

__all__ = ["export_network", "export_stage"]


def export_stage(ctx, child) -> dict:
    return export_network(child, ctx.supernet().space, ctx.out)


def export_network(child, space, out: str | Path) -> dict:
    """Trace ``child`` to ``out/model.pt`` and export ``out/model.onnx``, each checked against
    PyTorch on a random batch; returns the differences and the input shape. Both are exported
    from a CPU fp32 copy of ``child`` (wherever it was trained; ``child`` is not moved)."""
    import torch

    from budgetnas.devices import cpu_fp32_copy
    from budgetnas.export.onnx import export_onnx

    out = Path(out)
    c = space.config
    example = torch.randn(2, c.in_channels, c.image_size, c.image_size)
    child = cpu_fp32_copy(child)
    with torch.no_grad():
        traced = torch.jit.trace(child, example, check_trace=False)
    with atomic_path(out / "model.pt") as tmp:
        traced.save(str(tmp))
        reloaded = torch.jit.load(str(tmp))
    with torch.no_grad():
        diff_pt = float((reloaded(example) - child(example)).abs().max())
    with atomic_path(out / "model.onnx") as tmp:
        onnx = export_onnx(child, example, tmp)
    return {"torchscript_max_abs_diff": diff_pt, **onnx, "input_shape": list(example.shape)}
