"""Validate a latency table on whole networks: predicted (table sum) vs measured end to end.

Random architectures (uniform decisions, seeded) are built as standalone networks and timed on the
same backend, threads and batch as the table, with the same protocol (warm-up, interleaved repeats,
median). Each measurement is written to the store as soon as it exists, so a validation resumes.
The summary gives the share of networks within +-5% and +-10% of the table's prediction, the worst
error and the bias (mean signed error), errors being ``(predicted - measured) / measured``.

:func:`validate_table` compares one table with fresh measurements (:class:`ValidationResult`);
:func:`run_validation` is the whole workflow of ``budgetnas lut validate`` and ``budgetnas bench
lut`` from a :class:`ValidateConfig`: load this machine's table (building it when there is none),
refuse a table of another fingerprint, validate, store the fitted correction when asked, write
the JSON and the scatter plot (:class:`ValidationRun`).

Example:
    >>> summarize([1.0, 2.0], [1.0, 2.1]).within_5pct
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.config import option
from budgetnas.costs.fingerprint import check_fingerprint, current_fingerprint
from budgetnas.costs.latency import BACKENDS
from budgetnas.costs.table import CostTable, distinct_descriptors, fit_correction
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.store import Store

__all__ = [
    "DEFAULT_STORE",
    "VALIDATION_KIND",
    "ErrorSummary",
    "ValidateConfig",
    "ValidationResult",
    "ValidationRun",
    "measure_networks",
    "measure_paired",
    "plot_scatter",
    "run_validation",
    "sample_archs",
    "summarize",
    "table_space",
    "validate_table",
    "write_json",
]

VALIDATION_KIND = "lut_validation"
DEFAULT_STORE = "runs/lut/lut.sqlite"
Progress = Callable[[str], None]


# ---- configuration and results -------------------------------------------------------------------
@dataclass
class ValidateConfig:
    """Settings of a validation (the flags of ``budgetnas lut validate``)."""

    space: str = option("mobilenet", "search space (only mobilenet has blocks)")
    preset: str = option("fmnist-small", "macro structure of the space")
    backend: str = option("torch-cpu", "runtime", choices=BACKENDS)
    threads: int = option(1, "intra-op threads")
    batch: int = option(1, "batch size")
    clock: str = option(
        "auto",
        "auto: the thread's CPU time with 1 thread (robust on a shared CPU), wall-clock time "
        "otherwise; CUDA events on torch-cuda",
        choices=("auto", "wall", "thread", "cuda"),
    )
    store: str = option(DEFAULT_STORE, "SQLite store")
    samples: int = option(100, "random whole networks measured")
    seed: int = option(0, "seed of the random networks")
    repeats: int = option(30, "timed repeats per network")
    warmup: int = option(5, "untimed warm-up calls")
    stat: str = option(
        "median",
        "statistic of the repeats compared (tables keep both)",
        choices=("median", "min"),
    )
    json_out: str = option("runs/lut/validate.json", "JSON file of the results", flag="json")
    plot: str | None = option(None, "scatter PNG; none: beside the JSON")
    fit_correction: bool = option(False, "store the fitted (slope, intercept) beside the table")
    corrected: bool = option(False, "apply the stored correction")
    paired: bool = option(
        False,
        "also re-measure the blocks interleaved with the networks (error of summing blocks, "
        "free of machine drift since the build)",
    )
    table_id: str | None = option(None, "validate this stored table")
    force: bool = option(False, "use a table of another fingerprint")


@dataclass(frozen=True)
class ErrorSummary:
    """How far predictions are from measurements (shares as fractions, errors in percent)."""

    samples: int
    within_5pct: float
    within_10pct: float
    max_abs_error_pct: float
    bias_pct: float
    median_abs_error_pct: float

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "within_5pct": self.within_5pct,
            "within_10pct": self.within_10pct,
            "max_abs_error_pct": self.max_abs_error_pct,
            "bias_pct": self.bias_pct,
            "median_abs_error_pct": self.median_abs_error_pct,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErrorSummary:
        return cls(
            samples=int(data["samples"]),
            within_5pct=float(data["within_5pct"]),
            within_10pct=float(data["within_10pct"]),
            max_abs_error_pct=float(data["max_abs_error_pct"]),
            bias_pct=float(data["bias_pct"]),
            median_abs_error_pct=float(data["median_abs_error_pct"]),
        )


#: the summary fields printed after a validation
SHOWN = ("samples", "within_5pct", "within_10pct", "max_abs_error_pct", "bias_pct")


@dataclass
class ValidationResult:
    """A table against whole networks: the error summary, the noise of the measurements, the
    fitted correction (``{"slope", "intercept"}``, absent when every prediction is equal), the
    paired comparison (``--paired``) and one record per network. :meth:`to_json` is the JSON
    file's content (the summary's keys, then ``records``)."""

    errors: ErrorSummary
    measurement_rel_iqr_median_pct: float
    corrected: bool
    stat: str
    table: str
    fingerprint: dict
    seed: int
    records: list[dict] = field(default_factory=list)
    fit: dict | None = None
    paired: ErrorSummary | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            **self.errors.to_json(),
            "measurement_rel_iqr_median_pct": self.measurement_rel_iqr_median_pct,
            "corrected": self.corrected,
            "stat": self.stat,
        }
        if self.fit is not None:
            out["fit"] = self.fit
        out.update(table=self.table, fingerprint=self.fingerprint, seed=self.seed)
        if self.paired is not None:
            out["paired"] = self.paired.to_json()
        return {**out, "records": self.records}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationResult:
        return cls(
            errors=ErrorSummary.from_json(data),
            measurement_rel_iqr_median_pct=float(data["measurement_rel_iqr_median_pct"]),
            corrected=bool(data["corrected"]),
            stat=data.get("stat", "median"),
            table=data["table"],
            fingerprint=dict(data["fingerprint"]),
            seed=int(data["seed"]),
            records=list(data.get("records", [])),
            fit=data.get("fit"),
            paired=ErrorSummary.from_json(data["paired"]) if "paired" in data else None,
        )

    def shown(self) -> dict[str, Any]:
        """The numbers printed after a validation (the paired ones too where measured)."""
        errors = self.errors.to_json()
        out: dict[str, Any] = {k: errors[k] for k in SHOWN}
        if self.paired is not None:
            paired = self.paired.to_json()
            out["paired"] = {k: paired[k] for k in SHOWN}
        return out


@dataclass
class ValidationRun:
    """What :func:`run_validation` did: the result and the files it wrote."""

    result: ValidationResult
    json_path: Path
    plot_path: Path
    correction: dict | None = None  # the correction stored beside the table, if one was

    def summary(self) -> str:
        """The printed summary: the main numbers and the paths of the JSON and the plot."""
        shown = self.result.shown()
        paired = shown.pop("paired", None)
        shown.update(json=str(self.json_path), plot=str(self.plot_path))
        if paired is not None:
            shown["paired"] = paired
        return json.dumps(shown, indent=1)


# ---- measuring -----------------------------------------------------------------------------------
def table_space(space: str, preset: str) -> MobileNetSpace:
    """The space of a cost table; only the mobilenet space has block descriptors."""
    if space != "mobilenet":
        raise ValueError(
            f"lookup tables need block descriptors; space {space!r} has none "
            "(use --space mobilenet)"
        )
    return MobileNetSpace(preset=preset)


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
    progress: Progress | None = None,
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


def measure_paired(
    space: MobileNetSpace,
    archs: list,
    fingerprint: dict,
    repeats: int = 30,
    warmup: int = 5,
    progress: Progress | None = None,
    stat: str = "median",
) -> tuple[CostTable, dict[str, dict]]:
    """A fresh table and whole networks, all measured interleaved in the same rounds."""
    from budgetnas.costs.latency import make_runner, measure
    from budgetnas.costs.measure import block_runner, t0_runners
    from budgetnas.supernet.standalone import build_network

    cfg = space.config
    backend, threads, batch = fingerprint["backend"], fingerprint["threads"], fingerprint["batch"]
    runners = {
        f"block/{k}": block_runner(d, backend, threads, batch)
        for k, d in distinct_descriptors(space).items()
    }
    runners.update({f"t0/{k}": r for k, r in t0_runners(space, backend, threads, batch).items()})
    image = (batch, cfg.in_channels, cfg.image_size, cfg.image_size)
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


# ---- comparing -----------------------------------------------------------------------------------
def summarize(predicted, measured) -> ErrorSummary:
    """Error distribution of predictions against measurements (shares as fractions)."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    err = (p - m) / m * 100.0
    a = np.abs(err)
    return ErrorSummary(
        samples=int(err.size),
        within_5pct=float(np.mean(a <= 5.0)),
        within_10pct=float(np.mean(a <= 10.0)),
        max_abs_error_pct=float(a.max()),
        bias_pct=float(err.mean()),
        median_abs_error_pct=float(np.median(a)),
    )


def _records(space, table: CostTable, archs: list, meas: dict, corrected: bool) -> list[dict]:
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
    return records


def validate_table(
    space: MobileNetSpace,
    table: CostTable,
    samples: int = 100,
    seed: int = 0,
    repeats: int = 30,
    warmup: int = 5,
    store: Store | None = None,
    corrected: bool = False,
    progress: Progress | None = None,
    paired: bool = False,
) -> ValidationResult:
    """Measure ``samples`` random whole networks and compare with ``table``.

    The result holds the error summary (:func:`summarize`), the fitted correction, the noise of
    the measurements and one record per network. With ``paired``, the networks are measured again
    interleaved with fresh measurements of every block and of ``T0`` in the same rounds, and
    ``result.paired`` compares each network with the sum of its fresh block measurements: the
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
    records = _records(space, table, archs, meas, corrected)
    p = [r["predicted_ms"] for r in records]
    m = [r["measured_ms"] for r in records]
    rel_iqr = [(r["measured_q3_ms"] - r["measured_q1_ms"]) / r["measured_ms"] for r in records]
    fit = None
    if len(set(p)) > 1:
        slope, intercept = fit_correction(p, m)
        fit = {"slope": slope, "intercept": intercept}
    result = ValidationResult(
        errors=summarize(p, m),
        measurement_rel_iqr_median_pct=float(np.median(rel_iqr) * 100),
        corrected=bool(corrected),
        stat=table.stat,
        table=table.id,
        fingerprint=fp,
        seed=seed,
        records=records,
        fit=fit,
    )
    if paired:
        fresh, nets = measure_paired(space, archs, fp, repeats, warmup, progress, table.stat)
        pp = [fresh.predict(space, a) for a in archs]
        pm = [nets[space.to_string(a)][table.stat] for a in archs]
        result.paired = summarize(pp, pm)
        for r, x, y in zip(records, pp, pm, strict=True):
            r["paired_predicted_ms"], r["paired_measured_ms"] = x, y
    return result


# ---- the workflow --------------------------------------------------------------------------------
def _table_for(cfg: ValidateConfig, space: MobileNetSpace, store: Store, say: Progress):
    """This machine's table (built when there is none yet), refused if measured elsewhere."""
    from budgetnas.costs.measure import build_table
    from budgetnas.costs.table import load_table

    try:
        table = load_table(
            store,
            space,
            cfg.backend,
            cfg.threads,
            cfg.batch,
            "latency_ms",
            cfg.force,
            cfg.table_id,
            cfg.clock,
        )
    except FileNotFoundError:
        say("no table for this fingerprint yet: building it first")
        table = build_table(
            space,
            store,
            cfg.backend,
            cfg.threads,
            cfg.batch,
            cfg.repeats,
            cfg.warmup,
            progress=say,
            clock=cfg.clock,
        )
    # whole networks are measured here: the table must describe this machine
    fp = table.fingerprint
    want = current_fingerprint(space, fp["backend"], fp["threads"], fp["batch"], clock=fp["clock"])
    check_fingerprint(table, want, force=cfg.force)
    return table.with_stat(cfg.stat)


def run_validation(cfg: ValidateConfig, progress: Progress | None = None) -> ValidationRun:
    """The whole validation of ``budgetnas lut validate`` (module doc); writes ``cfg.json_out``
    and the scatter plot (``cfg.plot``, else beside the JSON)."""
    from budgetnas.files import check_distinct_outputs

    out_json = Path(cfg.json_out)
    check_distinct_outputs(
        json=out_json, plot=cfg.plot or out_json.with_suffix(".png"), store=cfg.store
    )
    say = progress or (lambda _msg: None)
    space = table_space(cfg.space, cfg.preset)
    store = Store(cfg.store)
    table = _table_for(cfg, space, store, say)
    result = validate_table(
        space,
        table,
        cfg.samples,
        cfg.seed,
        cfg.repeats,
        cfg.warmup,
        store,
        cfg.corrected,
        progress=say,
        paired=cfg.paired,
    )
    correction = None
    fit = result.fit
    if cfg.fit_correction and fit is not None:
        try:
            table.set_correction(
                fit["slope"], fit["intercept"], store, samples=result.errors.samples, seed=cfg.seed
            )
        except ValueError:  # a few noisy networks can fit a falling line; the table refuses it
            say(
                f"correction not stored: the fitted slope {fit['slope']:.4f} is not positive "
                f"({result.errors.samples} networks; measure more with --samples)"
            )
        else:
            correction = table.correction
            say(f"stored correction slope={fit['slope']:.4f} intercept={fit['intercept']:.4f} ms")
    out = write_json(result, cfg.json_out)
    plot = Path(cfg.plot) if cfg.plot else out.with_suffix(".png")
    plot_scatter(result, plot)
    return ValidationRun(result, out, plot, correction)


# ---- files ---------------------------------------------------------------------------------------
def plot_scatter(result: ValidationResult, path: str | Path) -> Path:
    """Predicted vs measured latency, with the +-10% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = result.records
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
    fp = result.fingerprint
    ax.set_xlabel(f"measured whole network (ms, {result.stat}; bars: quartiles)")
    ax.set_ylabel("table prediction (ms)")
    ax.set_title(
        f"{fp.get('preset', '')} {fp.get('backend', '')} {fp.get('threads', '')} thr, "
        f"batch {fp.get('batch', '')}: {result.errors.within_10pct * 100:.0f}% within 10%",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_json(result: ValidationResult, path: str | Path) -> Path:
    """Write the result (summary keys, then ``records``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=1))
    return path
