"""A latency kit for a device that has no PyTorch and no budgetnas: ONNX files and one script.

:func:`build_kit` writes a folder holding one ONNX file per distinct block descriptor of a space
(the entries of its lookup table), the fixed parts (``stem``, ``head``: ``T0``), an empty model
(the runtime's cost of one call, which the import takes off every part but once), about 30 random
whole networks for validation, ``manifest.json`` (every model's role, key, file, input shape and
SHA-256, the space and its fingerprint, the batch) and ``measure.py``, which needs only Python
3.8+, numpy and onnxruntime. On the device, ``python measure.py --threads 1 --out table.json``
times every model in interleaved rounds; ``budgetnas lut import table.json --name NAME`` turns
that into the device's table and says how well it predicts the validation networks
(:mod:`budgetnas.costs.device_tables`). :func:`write_kit` writes any set of models the same way:
a run's *verification kit* is just the network it found (``blocks=False``).

File names inside a kit are numbered, never taken from user text, and the script refuses a file
whose checksum is not the manifest's.

Example:
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> space_fingerprint(MobileNetSpace(preset="tiny")) == space_fingerprint(
    ...     MobileNetSpace(preset="tiny"))
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "KIT_KIND",
    "MEASURE_SCRIPT",
    "build_kit",
    "read_manifest",
    "space_fingerprint",
    "write_kit",
]

KIT_KIND = "budgetnas-latency-kit"
#: the measuring script shipped in every kit
MEASURE_SCRIPT = Path(__file__).parent / "kit_files" / "measure.py"
_README = """budgetnas latency kit ({purpose}) for {space}/{preset}, batch {batch}

On the device (Python 3.8+):
    pip install numpy onnxruntime
    python measure.py --threads 1 --out table.json
Options: --provider cpu|cuda|coreml|nnapi|openvino|... (an onnxruntime execution provider),
--repeats 30, --warmup 5. Then, where budgetnas runs:
    {then}
"""


def space_fingerprint(space) -> str:
    """A short hash of the space's name and whole macro structure: equal on every machine for
    the same space and preset definition, different as soon as one block would differ."""
    text = json.dumps(
        {"space": space.name, "config": dataclasses.asdict(space.config)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _empty_module():
    """A module that does (almost) nothing: its latency is the runtime's cost of one call."""
    import torch

    class Empty(torch.nn.Module):
        def forward(self, x):
            return x + 1.0

    return Empty()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(module, shape: tuple[int, ...], path: Path) -> None:
    import torch

    from budgetnas.costs.latency import export_onnx
    from budgetnas.devices import cpu_fp32_copy

    export_onnx(cpu_fp32_copy(module), torch.zeros(*shape), str(path))


def write_kit(
    out: str | Path,
    space,
    batch: int = 1,
    *,
    blocks: bool = True,
    networks: dict | None = None,
    purpose: str = "table",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a kit into ``out`` (atomically: built beside it, then renamed). ``blocks``: every
    block descriptor and the fixed parts; ``networks``: name -> whole network of ``space``."""
    import budgetnas
    from budgetnas.costs.measure import block_module
    from budgetnas.costs.table import distinct_descriptors
    from budgetnas.supernet.standalone import Head, Stem

    if purpose not in ("table", "verify"):
        raise ValueError(f"a kit's purpose is 'table' or 'verify', not {purpose!r}")
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ValueError(f"{out} exists and is not empty; choose another --out or --force")
    say = progress or (lambda _msg: None)
    cfg = space.config
    image = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    todo: list[tuple[str, str, object, tuple]] = []
    if blocks:
        for key, d in distinct_descriptors(space).items():
            todo.append(
                ("block", key, block_module(d), (batch, d.c_in, d.resolution, d.resolution))
            )
        last = cfg.resolutions()[-1]
        todo.append(("stem", "stem", Stem(cfg), image))
        todo.append(("head", "head", Head(cfg), (batch, cfg.stage_out[-1], last, last)))
        # the cost of one call: paid once by a network, once per part by a sum of parts
        todo.append(("overhead", "call", _empty_module(), (1, 1, 1, 1)))
    for name, net in (networks or {}).items():
        todo.append(("network", str(name), net, image))
    if not todo:
        raise ValueError("a kit needs blocks or networks")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        models = []
        for i, (role, key, module, shape) in enumerate(todo):
            rel = Path("networks" if role == "network" else "blocks") / f"{i:04d}.onnx"
            (tmp / rel.parent).mkdir(exist_ok=True)
            _export(module, shape, tmp / rel)
            models.append(
                {
                    "role": role,
                    "key": key,
                    "file": rel.as_posix(),
                    "sha256": _sha256(tmp / rel),
                    "input_shape": list(shape),
                }
            )
            if (i + 1) % 25 == 0 or i + 1 == len(todo):
                say(f"exported {i + 1}/{len(todo)} models")
        manifest = {
            "kind": KIT_KIND,
            "format": 1,
            "purpose": purpose,
            "space": space.name,
            "preset": cfg.name,
            "space_fingerprint": space_fingerprint(space),
            "resolution": cfg.image_size,
            "in_channels": cfg.in_channels,
            "batch": int(batch),
            "budgetnas": budgetnas.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "models": models,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        shutil.copyfile(MEASURE_SCRIPT, tmp / "measure.py")
        then = (
            "budgetnas lut import table.json --name NAME"
            if purpose == "table"
            else "budgetnas verify RUN --measurements table.json"
        )
        (tmp / "README.txt").write_text(
            _README.format(
                purpose=purpose, space=space.name, preset=cfg.name, batch=batch, then=then
            )
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_kit(
    space,
    out: str | Path,
    batch: int = 1,
    networks: int = 30,
    seed: int = 0,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The table kit of ``space``: every block, the fixed parts and ``networks`` random whole
    networks (seeded) to validate the table on the device."""
    from budgetnas.costs.validate import sample_archs
    from budgetnas.supernet.standalone import build_network

    archs = sample_archs(space, networks, seed) if networks > 0 else []
    nets = {space.to_string(a): build_network(space, a) for a in archs}
    return write_kit(
        out,
        space,
        batch,
        blocks=True,
        networks=nets,
        purpose="table",
        force=force,
        progress=progress,
    )


def read_manifest(kit: str | Path) -> dict:
    """A kit's manifest, with a clear error when it is missing, unreadable or not a kit's."""
    from budgetnas.files import read_json

    path = Path(kit) / "manifest.json"
    data = read_json(path, "kit manifest (a folder of `budgetnas lut kit`)")
    if not isinstance(data, dict) or data.get("kind") != KIT_KIND or data.get("format") != 1:
        raise ValueError(f"{path} is not a budgetnas latency kit manifest (format 1)")
    if not isinstance(data.get("models"), list):
        raise ValueError(f"{path}: 'models' must be a list")
    return data
