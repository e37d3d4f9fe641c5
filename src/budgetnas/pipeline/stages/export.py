"""Stage 6: the found network as TorchScript (``model.pt``) and ONNX (``model.onnx``)."""

from __future__ import annotations

import json
from pathlib import Path

from budgetnas.files import atomic_path

__all__ = [
    "LABELS",
    "PREPROCESSING",
    "dataset_record",
    "export_labels",
    "export_network",
    "export_stage",
]

LABELS = "labels.json"
PREPROCESSING = "preprocessing.json"


def export_stage(ctx, child, info) -> dict:
    """The network (:func:`export_network`) and, from the dataset's ``info``, the files a
    deployment needs beside it (:func:`export_labels`)."""
    export = export_network(child, ctx.supernet().space, ctx.out)
    return {**export, **export_labels(info, ctx.out)}


def dataset_record(info) -> dict:
    """What ``result.json`` says of the dataset a network was trained on."""
    return {
        "name": info.name,
        "channels": info.channels,
        "image_size": info.image_size,
        "num_classes": info.num_classes,
        "classes": list(info.classes) if info.classes else None,
        "mean": list(info.mean),
        "std": list(info.std),
        "n_train": info.n_train,
        "n_heldout": info.n_heldout,
        "n_test": info.n_test,
        "notes": list(info.notes),
    }


def export_labels(info, out: str | Path) -> dict:
    """``out/labels.json`` (the class names, in the order of the network's outputs) and
    ``out/preprocessing.json`` (input shape and normalization): what a deployment needs beside
    the model file. Returns the files written."""
    from budgetnas.files import write_text_atomic

    out = Path(out)
    classes = list(info.classes) if info.classes else [str(i) for i in range(info.num_classes)]
    write_text_atomic(out / LABELS, json.dumps(classes, indent=1, ensure_ascii=False) + "\n")
    prep = {
        "input": [1, info.channels, info.image_size, info.image_size],
        "layout": "NCHW",
        "scale": "pixels / 255 (0..1)",
        "mean": list(info.mean),
        "std": list(info.std),
        "channels": "grayscale" if info.channels == 1 else "RGB",
    }
    write_text_atomic(out / PREPROCESSING, json.dumps(prep, indent=1) + "\n")
    return {"labels": LABELS, "preprocessing": PREPROCESSING}


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
