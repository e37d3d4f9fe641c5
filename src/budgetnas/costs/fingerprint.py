"""Where a cost table was measured: the device fingerprint, its id, and the refusal of a mismatch.

A fingerprint is a plain dict: metric, clock, CPU model, threads, torch and onnxruntime versions,
backend, batch, input resolution, space and preset (and on ``torch-cuda`` the GPU's name and
CUDA version). Its id (:func:`fingerprint_id`) keys the
table in the store, so building on another machine or runtime makes a new table, and using a
table measured elsewhere is refused with the differing fields named (:func:`check_fingerprint`)
unless forced.

Example:
    >>> a = {"cpu": "x", "threads": 1}
    >>> fingerprint_diff(a, {"cpu": "x", "threads": 2})
    ['threads: 1 vs 2']
    >>> len(fingerprint_id(a))
    12
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from budgetnas.costs.latency import check_backend, resolve_clock

if TYPE_CHECKING:
    from budgetnas.costs.table import CostTable
    from budgetnas.spaces.mobilenet import MobileNetSpace

__all__ = [
    "STRUCTURAL",
    "FingerprintMismatch",
    "check_fingerprint",
    "cpu_model",
    "current_fingerprint",
    "fingerprint_diff",
    "fingerprint_id",
    "gpu_model",
    "package_version",
]

#: fields that must agree for a table to describe a space at all (never forced)
STRUCTURAL = ("space", "preset", "resolution")


class FingerprintMismatch(ValueError):
    """A table measured on another device/runtime than the one asked for."""


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def package_version(module: str) -> str:
    """The installed version of a distribution, or ``"absent"``."""
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # not installed
        return "absent"


def current_fingerprint(
    space: MobileNetSpace,
    backend: str = "torch-cpu",
    threads: int = 1,
    batch: int = 1,
    metric: str = "latency_ms",
    clock: str = "auto",
) -> dict:
    """Where and how a table would be measured now (``clock``: see
    :func:`~budgetnas.costs.latency.resolve_clock`)."""
    check_backend(backend)
    fp = {
        "metric": metric,
        "clock": resolve_clock(clock, threads, backend) if metric == "latency_ms" else "energy",
        "cpu": cpu_model(),
        "threads": int(threads),
        "torch": package_version("torch"),
        "onnxruntime": package_version("onnxruntime") if backend == "onnxruntime" else "unused",
        "backend": backend,
        "batch": int(batch),
        "resolution": int(space.config.image_size),
        "space": space.name,
        "preset": space.config.name,
    }
    if backend == "torch-cuda":  # the GPU is the device; its name and CUDA runtime key the table
        fp.update(gpu_model())
    return fp


def gpu_model() -> dict:
    """``{"gpu": name, "cuda": version}`` of the current CUDA device (for ``torch-cuda``)."""
    import torch

    from budgetnas.costs.latency import cuda_device

    device = cuda_device()
    return {"gpu": torch.cuda.get_device_name(device), "cuda": str(torch.version.cuda)}


def fingerprint_id(fp: dict) -> str:
    """A short stable id of a fingerprint (the store key prefix)."""
    text = json.dumps(fp, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def fingerprint_diff(a: dict, b: dict) -> list[str]:
    """``"field: a's value vs b's value"`` for every field where two fingerprints differ."""
    keys = sorted(set(a) | set(b))
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def check_fingerprint(table: CostTable, want: dict, force: bool = False) -> None:
    """Raise :class:`FingerprintMismatch` unless ``table`` was measured on ``want``."""
    diffs = fingerprint_diff(table.fingerprint, want)
    if diffs and not force:
        raise FingerprintMismatch(
            f"table {table.id} was measured on another fingerprint ({'; '.join(diffs)}); "
            "pass force=True (--force) to use it anyway"
        )
