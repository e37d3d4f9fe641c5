"""Validate a latency table on whole networks: predicted (table sum) vs measured end to end.

Random architectures (uniform decisions, seeded) are built as standalone networks and timed on the
same backend, threads and batch as the table, with the same protocol (warm-up, interleaved repeats,
median). Each measurement is written to the store as soon as it exists, so a validation resumes.
The summary gives the share of networks within +-5% and +-10% of the table's prediction, the worst
error and the bias (mean signed error), errors being ``(predicted - measured) / measured``.

Example:
    >>> summarize([1.0, 2.0], [1.0, 2.1])["within_5pct"]
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from budgetnas.costs.lut import CostTable, fit_correction
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.store import Store

VALIDATION_KIND = "lut_validation"


def sample_archs(space: MobileNetSpace, n: int, seed: int = 0) -> list:
    """``n`` distinct random architectures (uniform, independent decisions)."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    while len(out) < n:
        a = space.sample(rng)
        out.setdefault(a, None)
    return list(out)


def measure_networks(
    space: MobileNetSpace,
    archs: list,
    backend: str,
    threads: int,
    batch: int,
    repeats: int = 30,
    warmup: int = 5,
    chunk: int = 10,
    store: Store | None = None,
    prefix: str = "",
    progress: Callable[[str], None] | None = None,
    clock: str = "auto",
) -> dict[str, dict]:
    """Whole-network latency (ms, median and spread) of each architecture, by canonical string."""
    from budgetnas.costs.latency import make_runner, measure
    from budgetnas.supernet.standalone import build_network

    cfg = space.config
    shape = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    keys = [space.to_string(a) for a in archs]
    done: dict[str, dict] = {}
    if store is not None:
        for k in keys:
            v = store.get(VALIDATION_KIND, f"{prefix}{k}")
            if v is not None:
                done[k] = v
    todo = [(k, a) for k, a in zip(keys, archs, strict=True) if k not in done]
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        runners = {
            k: make_runner(build_network(space, a), shape, backend, threads) for k, a in part
        }
        got = measure(runners, repeats, warmup, threads=threads, seed=start, clock=clock)
        for k, m in got.items():
            done[k] = m.to_dict()
            if store is not None:
                store.put(VALIDATION_KIND, f"{prefix}{k}", done[k])
        if progress:
            progress(f"measured {min(start + chunk, len(todo))}/{len(todo)} networks")
    return {k: done[k] for k in keys}


def summarize(predicted, measured) -> dict:
    """Error distribution of predictions against measurements (shares as fractions)."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    err = (p - m) / m * 100.0
    a = np.abs(err)
    return {
        "samples": int(err.size),
        "within_5pct": float(np.mean(a <= 5.0)),
        "within_10pct": float(np.mean(a <= 10.0)),
        "max_abs_error_pct": float(a.max()),
        "bias_pct": float(err.mean()),
        "median_abs_error_pct": float(np.median(a)),
    }


def validate_table(
    space: MobileNetSpace,
    table: CostTable,
    samples: int = 100,
    seed: int = 0,
    repeats: int = 30,
    warmup: int = 5,
    store: Store | None = None,
    corrected: bool = False,
    progress: Callable[[str], None] | None = None,
    paired: bool = False,
) -> tuple[dict, list[dict]]:
    """Measure ``samples`` random whole networks and compare with ``table``.

    Returns the summary (:func:`summarize`, plus the fitted correction and the noise of the
    measurements) and one record per network. With ``paired``, the networks are measured again
    interleaved with fresh measurements of every block and of ``T0`` in the same rounds, and
    ``summary["paired"]`` compares each network with the sum of its fresh block measurements: the
    error of summing blocks (fusion, cache effects between blocks) without the drift of a shared
    machine's speed between the time the table was built and the time it is validated.
    """
    fp = table.fingerprint
    archs = sample_archs(space, samples, seed)
    meas = measure_networks(
        space,
        archs,
        fp["backend"],
        fp["threads"],
        fp["batch"],
        repeats,
        warmup,
        store=store,
        prefix=f"{table.id}/{seed}/",
        progress=progress,
        clock=fp.get("clock", "wall"),
    )
    records = []
    for a in archs:
        k = space.to_string(a)
        records.append(
            {
                "arch": k,
                "predicted_ms": table.predict(space, a, corrected),
                "measured_ms": meas[k][table.stat],
                "measured_q1_ms": meas[k]["q1"],
                "measured_q3_ms": meas[k]["q3"],
            }
        )
    p = [r["predicted_ms"] for r in records]
    m = [r["measured_ms"] for r in records]
    summary = summarize(p, m)
    rel_iqr = [(r["measured_q3_ms"] - r["measured_q1_ms"]) / r["measured_ms"] for r in records]
    summary["measurement_rel_iqr_median_pct"] = float(np.median(rel_iqr) * 100)
    summary["corrected"] = bool(corrected)
    summary["stat"] = table.stat
    if len(set(p)) > 1:
        slope, intercept = fit_correction(p, m)
        summary["fit"] = {"slope": slope, "intercept": intercept}
    summary["table"] = table.id
    summary["fingerprint"] = fp
    summary["seed"] = seed
    if paired:
        fresh, nets = measure_paired(space, archs, fp, repeats, warmup, progress, table.stat)
        pp = [fresh.predict(space, a) for a in archs]
        pm = [nets[space.to_string(a)][table.stat] for a in archs]
        summary["paired"] = summarize(pp, pm)
        for r, x, y in zip(records, pp, pm, strict=True):
            r["paired_predicted_ms"], r["paired_measured_ms"] = x, y
    return summary, records


def measure_paired(
    space: MobileNetSpace,
    archs: list,
    fingerprint: dict,
    repeats: int = 30,
    warmup: int = 5,
    progress: Callable[[str], None] | None = None,
    stat: str = "median",
) -> tuple[CostTable, dict[str, dict]]:
    """A fresh table and whole networks, all measured interleaved in the same rounds."""
    from budgetnas.costs.latency import make_runner, measure
    from budgetnas.costs.measure import block_module as _block_module
    from budgetnas.costs.table import distinct_descriptors
    from budgetnas.supernet.standalone import Head, Stem, build_network

    cfg = space.config
    backend, threads, batch = fingerprint["backend"], fingerprint["threads"], fingerprint["batch"]
    runners = {}
    for k, d in distinct_descriptors(space).items():
        shape = (batch, d.c_in, d.resolution, d.resolution)
        runners[f"block/{k}"] = make_runner(_block_module(d), shape, backend, threads)
    last = cfg.resolutions()[-1]
    image = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
    runners["t0/stem"] = make_runner(Stem(cfg), image, backend, threads)
    runners["t0/head"] = make_runner(
        Head(cfg), (batch, cfg.stage_out[-1], last, last), backend, threads
    )
    for a in archs:
        runners[f"net/{space.to_string(a)}"] = make_runner(
            build_network(space, a), image, backend, threads
        )
    if progress:
        progress(f"paired: measuring {len(runners)} runners interleaved")
    got = measure(runners, repeats, warmup, threads=threads, clock=fingerprint.get("clock", "wall"))
    entries = {k[6:]: m for k, m in got.items() if k.startswith("block/")}
    parts = {k[3:]: m for k, m in got.items() if k.startswith("t0/")}
    fresh = CostTable(
        dict(fingerprint),
        entries,
        t0=float(sum(m.median for m in parts.values())),
        t0_parts=parts,
        stat=stat,
    )
    nets = {k[4:]: m.to_dict() for k, m in got.items() if k.startswith("net/")}
    return fresh, nets


def plot_scatter(records: list[dict], summary: dict, path: str | Path) -> Path:
    """Predicted vs measured latency, with the +-10% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.array([r["measured_ms"] for r in records])
    p = np.array([r["predicted_ms"] for r in records])
    lo = np.array([r["measured_q1_ms"] for r in records])
    hi = np.array([r["measured_q3_ms"] for r in records])
    fig, ax = plt.subplots(figsize=(5, 5))
    xerr = [np.clip(m - lo, 0, None), np.clip(hi - m, 0, None)]
    ax.errorbar(m, p, xerr=xerr, fmt="o", ms=3, alpha=0.7, elinewidth=0.5, label="stored table")
    if all("paired_measured_ms" in r for r in records):
        pm = np.array([r["paired_measured_ms"] for r in records])
        pp = np.array([r["paired_predicted_ms"] for r in records])
        ax.plot(pm, pp, "s", ms=3, alpha=0.6, color="tab:orange", label="paired (same rounds)")
        m, p = np.concatenate([m, pm]), np.concatenate([p, pp])
    span = np.array([min(m.min(), p.min()) * 0.9, max(m.max(), p.max()) * 1.1])
    ax.plot(span, span, "k-", lw=0.8, label="y = x")
    ax.fill_between(span, span * 0.9, span * 1.1, color="gray", alpha=0.2, label="+-10%")
    fp = summary.get("fingerprint", {})
    ax.set_xlabel(f"measured whole network (ms, {summary.get('stat', 'median')}; bars: quartiles)")
    ax.set_ylabel("table prediction (ms)")
    ax.set_title(
        f"{fp.get('preset', '')} {fp.get('backend', '')} {fp.get('threads', '')} thr, "
        f"batch {fp.get('batch', '')}: {summary['within_10pct'] * 100:.0f}% within 10%",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_json(summary: dict, records: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**summary, "records": records}, indent=1))
    return path


__all__ = [
    "measure_networks",
    "plot_scatter",
    "sample_archs",
    "summarize",
    "validate_table",
    "write_json",
]
