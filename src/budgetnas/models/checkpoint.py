"""Save and load networks: budgetnas checkpoints, a user's class plus weights, pickled modules.

A budgetnas checkpoint is a dict saved with ``torch.save``::

    {"format": "budgetnas-checkpoint", "model": "resnet20", "kwargs": {...},
     "state_dict": {...}, "meta": {...}}

and rebuilds with ``build_model(model, **kwargs)``; every file is first read weights-only
(:func:`budgetnas.safeio.load_weights`), so nothing in it runs. ``load_network`` also accepts a
fully pickled ``nn.Module`` (``torch.save(model)``, what ``budgetnas prune`` writes), but only with
``trust_file=True`` (``--trust-file``: unpickling it could run code) and, with
``model_class="package.module:Class"``, a plain state dict (or a dict holding ``"state_dict"``),
and a TorchScript file, rebuilt as an eager module (:mod:`budgetnas.models.torchscript`); its
description then holds the scripted module under ``"torchscript"`` so the caller can check the
two agree on a real input. An ``.onnx`` file loads as an
:class:`~budgetnas.models.onnx_import.OnnxNetwork` (read as protobuf; nothing in it runs), for
committees and comparisons; pruning refuses it.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "budgetnas-checkpoint"


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash mid-write leaves
    the previous file whole. Serialized in memory first: ``torch.save`` names the archive inside
    the file after the file, so saving to the temporary name directly would give the same
    content other bytes (and another checksum) every time."""
    import io

    from budgetnas.files import atomic_path

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:  # a temporary file of its own: two writers never collide
        tmp.write_bytes(buf.getvalue())


def save_checkpoint(
    path: str | Path, model: nn.Module, name: str, kwargs: dict[str, Any], meta: dict | None = None
) -> Path:
    """Write a budgetnas checkpoint of ``model`` (its weights as CPU tensors, whatever device and
    memory layout it trained in) to ``path``."""
    from budgetnas.devices import state_on_cpu

    path = Path(path)
    checkpoint = {
        "format": FORMAT,
        "model": name,
        "kwargs": dict(kwargs),
        "state_dict": state_on_cpu(model.state_dict()),  # loads on any device
        "meta": dict(meta or {}),
    }
    save_atomic(checkpoint, path)
    return path


def import_class(spec: str):
    """``"package.module:Class"`` -> the class."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"--model-class must look like package.module:Class, got {spec!r}")
    try:
        obj = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"cannot import {module!r} for --model-class: {err}") from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def is_torchscript(path: str | Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_torchscript(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    from budgetnas.models.torchscript import from_torchscript

    try:
        ts = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as err:
        first = str(err).splitlines()[0][:160] if str(err) else ""
        raise ValueError(
            f"{path} is truncated or corrupt, not a readable TorchScript file "
            f"({type(err).__name__}: {first}): export or save it again"
        ) from None
    net = from_torchscript(ts)  # TorchScriptError (a ValueError) names what it cannot rebuild
    return net, {"model": None, "class": "torchscript", "torchscript": ts}


def _load_object(path: Path, trust_file: bool) -> Any:
    """The weights-only content of ``path``; a whole pickled object only with ``trust_file``."""
    from budgetnas.safeio import UntrustedFileError, load_pickled, load_weights

    remedy = "save it again (budgetnas train-baseline, budgetnas prune)"
    try:
        return load_weights(path, "model checkpoint", remedy)
    except UntrustedFileError:
        hint = (
            ", or give a state dict (torch.save(model.state_dict())) with --model-class "
            "package.module:Class, or a TorchScript file (torch.jit.save)"
        )
        return load_pickled(path, "pickled model", trust_file, hint)


def load_network(
    path: str | Path,
    model_class: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    trust_file: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a network for pruning; returns ``(module, description)``.

    The description holds ``model`` and ``kwargs`` when the network can be rebuilt by name. A
    whole pickled module loads only with ``trust_file`` (unpickling it could run code).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if is_torchscript(path):
        return _load_torchscript(path)
    from budgetnas.models.onnx_import import is_onnx, load_onnx

    if is_onnx(path):
        return load_onnx(path), {"model": None, "format": "onnx", "source": str(path)}
    obj = _load_object(path, trust_file)
    if isinstance(obj, nn.Module):
        return obj, {"model": None, "class": f"{type(obj).__module__}:{type(obj).__qualname__}"}
    if isinstance(obj, dict) and obj.get("format") == FORMAT and model_class is None:
        from budgetnas.models import build_model

        net = build_model(obj["model"], **obj["kwargs"])
        net.load_state_dict(obj["state_dict"])
        return net, {"model": obj["model"], "kwargs": obj["kwargs"], "meta": obj.get("meta", {})}
    if model_class is None:
        raise ValueError(
            f"{path} holds a {type(obj).__name__}, not a budgetnas checkpoint or a pickled "
            "nn.Module: give its class with --model-class package.module:Class"
        )
    cls = import_class(model_class)
    net = cls(**(model_kwargs or {}))
    if not isinstance(net, nn.Module):
        raise ValueError(f"{model_class} did not build an nn.Module")
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"the weights in {path} do not fit {model_class}: {err}") from err
    return net, {"model": None, "class": model_class, "kwargs": dict(model_kwargs or {})}


__all__ = [
    "FORMAT",
    "import_class",
    "is_torchscript",
    "load_network",
    "save_atomic",
    "save_checkpoint",
]
