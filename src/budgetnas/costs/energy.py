"""Energy per inference from RAPL counters (``/sys/class/powercap``), or tables imported from JSON.

Where the machine exposes readable RAPL package counters (Linux, Intel and recent AMD CPUs, and a
kernel that lets this user read ``energy_uj``), :func:`measure_energy` measures the energy of each
runner the way :func:`budgetnas.costs.latency.measure` measures time: warm-up, then interleaved
repeats, each a burst of calls long enough for the counter (updated about every millisecond),
as mJ per call; :func:`budgetnas.costs.measure.build_table` with ``metric="energy_mj"`` builds an
energy table with it. The counters measure the whole package, so other processes' work is
included: measure on an idle machine. Where the counters are absent or unreadable, energy tables
measured elsewhere are imported from JSON (:func:`budgetnas.costs.table.import_table`);
:func:`energy_source` says which applies.

Example:
    >>> energy_source(root="/nonexistent").startswith("unavailable")
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from budgetnas.costs.latency import Measurement, interleaved_rounds, torch_threads

POWERCAP = "/sys/class/powercap"


class EnergyUnavailable(FileNotFoundError):
    """No readable RAPL counters here: import an energy table measured elsewhere."""


def rapl_domains(root: str | Path = POWERCAP) -> list[Path]:
    """Readable top-level RAPL package domains (``intel-rapl:N``) under ``root``."""
    root = Path(root)
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.glob("intel-rapl:*")):
        if d.name.count(":") != 1:  # sub-domains (core, dram) are inside the package
            continue
        try:
            int((d / "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        out.append(d)
    return out


def energy_source(root: str | Path = POWERCAP) -> str:
    """``rapl:<domains>`` when counters can be read, else ``unavailable (...)`` with the reason."""
    root = Path(root)
    if not root.is_dir():
        return f"unavailable ({root} does not exist): import energy tables from JSON"
    domains = rapl_domains(root)
    if not domains:
        return (
            f"unavailable (no readable RAPL energy_uj under {root}): import energy tables from JSON"
        )
    return "rapl:" + ",".join(d.name for d in domains)


class RaplCounter:
    """Sum of the package counters in microjoules, handling wrap-around."""

    def __init__(self, root: str | Path = POWERCAP):
        self.domains = rapl_domains(root)
        if not self.domains:
            raise EnergyUnavailable(
                f"cannot measure energy here: {energy_source(root)}. Measure on a machine with "
                "readable RAPL counters and `budgetnas lut import` the exported JSON table."
            )
        self.ranges = []
        for d in self.domains:
            try:
                self.ranges.append(int((d / "max_energy_range_uj").read_text()))
            except (OSError, ValueError):
                self.ranges.append(2**32)

    def read(self) -> list[int]:
        return [int((d / "energy_uj").read_text()) for d in self.domains]

    def delta_uj(self, before: list[int], after: list[int]) -> int:
        total = 0
        for b, a, r in zip(before, after, self.ranges, strict=True):
            total += a - b if a >= b else a + r - b
        return total


def measure_energy(
    runners: dict[str, Callable[[], object]],
    repeats: int = 10,
    warmup: int = 5,
    threads: int = 1,
    seed: int = 0,
    clock: str = "energy",
    min_time_s: float = 0.05,
    root: str | Path = POWERCAP,
) -> dict[str, Measurement]:
    """Energy per call in mJ of each runner (interleaved repeats, bursts of ``min_time_s``)."""
    del clock  # same signature as latency.measure
    counter = RaplCounter(root)

    def mj_per_call(f, n):
        before = counter.read()
        for _ in range(n):
            f()
        return counter.delta_uj(before, counter.read()) / 1e3 / n

    with torch_threads(threads):
        numbers = {}
        for k in runners:
            for _ in range(max(0, warmup)):
                runners[k]()
            t = time.perf_counter()
            runners[k]()
            numbers[k] = int(max(1, np.ceil(min_time_s / max(time.perf_counter() - t, 1e-6))))
        return interleaved_rounds(runners, numbers, repeats, seed, mj_per_call)


__all__ = [
    "POWERCAP",
    "EnergyUnavailable",
    "RaplCounter",
    "energy_source",
    "measure_energy",
    "rapl_domains",
]
