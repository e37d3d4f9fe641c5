"""Measuring a cost table: every block descriptor of a space and ``T0`` timed (or RAPL-metered)
as standalone torch modules on this machine.

Entries already stored under this machine's fingerprint are reused; missing ones are measured in
chunks of descriptors, interleaved within a chunk (:func:`budgetnas.costs.latency.measure`), and
written after each chunk, so an interrupted build resumes. The runners (one inference of one
module on a fixed input) are built by :func:`block_runner` and :func:`t0_runners`, which the
validation (:mod:`budgetnas.costs.validate`) shares.

Example:
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> from budgetnas.store import Store
    >>> space = MobileNetSpace(preset="tiny")
    >>> table = build_table(space, Store(":memory:"), repeats=2, warmup=1)  # doctest: +SKIP
    >>> table.cost_model(space).evaluate(space.smallest()) > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable

from budgetnas.costs.fingerprint import current_fingerprint, fingerprint_id
from budgetnas.costs.latency import Measurement
from budgetnas.costs.table import (
    CORRECTION_KIND,
    ENTRY_KIND,
    TABLE_KIND,
    CostTable,
    distinct_descriptors,
    stored_entries,
)
from budgetnas.spaces.mobilenet import BlockDescriptor, MobileNetSpace
from budgetnas.store import Store

__all__ = ["block_module", "block_runner", "build_summary", "build_table", "t0_runners"]


def block_module(d: BlockDescriptor):
    """The standalone torch module of one block descriptor."""
    from budgetnas.supernet.standalone import InvertedResidual

    return InvertedResidual(d)


def block_runner(d: BlockDescriptor, backend: str, threads: int, batch: int) -> Callable:
    """A runner doing one inference of the block ``d`` on an input of its shape."""
    from budgetnas.costs.latency import make_runner

    shape = (batch, d.c_in, d.resolution, d.resolution)
    return make_runner(block_module(d), shape, backend, threads)


def t0_runners(space: MobileNetSpace, backend: str, threads: int, batch: int) -> dict:
    """``{"stem": runner, "head": runner}``: the fixed parts of every network of ``space``."""
    from budgetnas.costs.latency import make_runner
    from budgetnas.supernet.standalone import Head, Stem

    cfg = space.config
    last = cfg.resolutions()[-1]
    image = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    return {
        "stem": make_runner(Stem(cfg), image, backend, threads),
        "head": make_runner(Head(cfg), (batch, cfg.stage_out[-1], last, last), backend, threads),
    }


def _measure_fn(metric: str) -> Callable:
    if metric == "energy_mj":
        from budgetnas.costs.energy import measure_energy

        return measure_energy
    if metric != "latency_ms":
        raise ValueError(f"tables measure latency_ms or energy_mj, not {metric!r}")
    from budgetnas.costs.latency import measure

    return measure


def build_table(
    space: MobileNetSpace,
    store: Store,
    backend: str = "torch-cpu",
    threads: int = 1,
    batch: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    chunk: int = 24,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
    clock: str = "auto",
    metric: str = "latency_ms",
) -> CostTable:
    """Measure (or reuse) every block descriptor of ``space`` and ``T0``: latency in ms, or with
    ``metric="energy_mj"`` energy in mJ from RAPL counters (:mod:`budgetnas.costs.energy`).

    Entries already stored under this fingerprint are reused; missing ones are measured in chunks
    of ``chunk`` descriptors, interleaved within a chunk, and written after each chunk, so an
    interrupted build resumes. ``force=True`` measures everything again.
    """
    measure = _measure_fn(metric)
    fp = current_fingerprint(space, backend, threads, batch, metric, clock)
    tid = fingerprint_id(fp)
    say = progress or (lambda _msg: None)
    descs = distinct_descriptors(space)
    stored = {} if force else stored_entries(store, tid)
    todo = [k for k in descs if k not in stored]
    say(
        f"table {tid}: {len(descs)} descriptors, {len(descs) - len(todo)} stored, "
        f"{len(todo)} to measure"
    )
    for start in range(0, len(todo), chunk):
        keys = todo[start : start + chunk]
        runners = {k: block_runner(descs[k], backend, threads, batch) for k in keys}
        got = measure(
            runners, repeats, warmup, threads=threads, seed=seed + start, clock=fp["clock"]
        )
        store.put_many(ENTRY_KIND, {f"{tid}/{k}": m.to_dict() for k, m in got.items()})
        stored.update(got)
        say(f"measured {min(start + chunk, len(todo))}/{len(todo)}")
    head = store.get(TABLE_KIND, tid)
    if head is not None and not force and head.get("t0_parts"):
        t0_parts = {k: Measurement.from_dict(v) for k, v in head["t0_parts"].items()}
    else:
        runners = t0_runners(space, backend, threads, batch)
        t0_parts = measure(runners, repeats, warmup, threads=threads, seed=seed, clock=fp["clock"])
    table = CostTable(
        fingerprint=fp,
        entries={k: stored[k] for k in descs},
        t0=float(sum(m.median for m in t0_parts.values())),
        source="rapl" if metric == "energy_mj" else "measured",
        t0_parts=t0_parts,
        correction=store.get(CORRECTION_KIND, tid),
        meta={"repeats": repeats, "warmup": warmup},
    )
    table.save(store)
    return table


def build_summary(table: CostTable, store: str, build_s: float) -> dict:
    """What ``budgetnas lut build`` prints: the table's id, size, ``T0``, spread and fingerprint."""
    unit = "mJ" if table.metric == "energy_mj" else "ms"
    rel = sorted(m.rel_iqr for m in table.entries.values())
    return {
        "table": table.id,
        "store": str(store),
        "entries": len(table.entries),
        f"t0_{unit}": table.t0,
        "build_s": round(build_s, 2),
        "source": table.source,
        "median_rel_iqr_pct": round(100 * rel[len(rel) // 2], 2),
        "fingerprint": table.fingerprint,
    }
