"""Lookup tables of measured block costs (latency in ms, energy in mJ): the table, its files.

A table holds one entry per distinct :class:`~budgetnas.spaces.mobilenet.BlockDescriptor` of a
space (median and spread of repeated measurements) plus ``T0``, the fixed part (stem with its
fixed block, and head). The predicted cost of an architecture is ``T0 + sum of its blocks'
entries``: the bilinear form of docs/methods/costs.md (:meth:`CostTable.form`).

Entries live in the project's SQLite :class:`~budgetnas.store.Store` under the id of the
fingerprint of where they were measured (:mod:`budgetnas.costs.fingerprint`), so building again
on the same fingerprint reuses every stored entry, and building on another machine or runtime
makes a new table. Loading "this machine's table" when only tables of other fingerprints exist is
refused with the differing fields named, unless ``force=True`` (:func:`load_table`). A table
exported to JSON (:meth:`CostTable.to_json`) can be searched with anywhere. Measuring a table is
:func:`budgetnas.costs.measure.build_table`.

An optional fitted correction ``measured ~ slope * predicted + intercept`` (from whole-network
validation, :mod:`budgetnas.costs.validate`) is stored beside the table and applied only when
asked for (``corrected=True``).

Example:
    >>> tuple(round(v, 9) for v in fit_correction([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]))
    (1.0, 0.5)
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.costs._base import CostModel
from budgetnas.costs.counting import block_form
from budgetnas.costs.fingerprint import (
    STRUCTURAL,
    FingerprintMismatch,
    current_fingerprint,
    fingerprint_diff,
    fingerprint_id,
)
from budgetnas.costs.latency import Measurement
from budgetnas.forms import QuadraticForm
from budgetnas.spaces.mobilenet import (
    BLOCK_OPTIONS,
    MAX_DEPTH,
    N_BLOCK_OPTIONS,
    N_STAGES,
    BlockDescriptor,
    MobileNetSpace,
)
from budgetnas.store import Store

__all__ = [
    "CORRECTION_KIND",
    "ENTRY_KIND",
    "FORMAT_VERSION",
    "METRIC_UNITS",
    "STATS",
    "TABLE_KIND",
    "CostTable",
    "LatencyTable",
    "LookupTableCost",
    "distinct_descriptors",
    "fit_correction",
    "import_table",
    "load_table",
    "read_measurement",
    "stored_entries",
    "stored_fingerprints",
    "table_lines",
]

TABLE_KIND = "lut_table"
ENTRY_KIND = "lut_entry"
CORRECTION_KIND = "lut_correction"
METRIC_UNITS = {"latency_ms": "ms", "energy_mj": "mJ"}
FORMAT_VERSION = 1
#: which statistic of the repeats a table predicts with
STATS = ("median", "min")


def distinct_descriptors(space: MobileNetSpace) -> dict[str, BlockDescriptor]:
    """Every distinct block descriptor of a space, by key (blocks 2-4 of a stage share them)."""
    out: dict[str, BlockDescriptor] = {}
    for s in range(N_STAGES):
        for b in range(MAX_DEPTH):
            for cfg in BLOCK_OPTIONS:
                d = space.block_descriptor(s, b, cfg)
                out.setdefault(d.key(), d)
    return out


@dataclass
class CostTable:
    """Measured per-block costs of one space on one fingerprint; ``metric`` is ``latency_ms`` or
    ``energy_mj`` and every number is in that unit."""

    fingerprint: dict
    entries: dict[str, Measurement]
    t0: float
    t0_parts: dict[str, Measurement] = field(default_factory=dict)
    correction: dict | None = None
    source: str = "measured"
    meta: dict = field(default_factory=dict)
    #: which statistic of the repeats predictions use: ``median`` (default) or ``min``
    stat: str = "median"

    def __post_init__(self) -> None:
        if self.stat not in STATS:
            raise ValueError(f"unknown statistic {self.stat!r}; choose one of {', '.join(STATS)}")
        # however the table was made (measured, read, assembled), every number is a cost > 0
        _positive(self.t0, f"table {self.id}: t0")
        for label, group in (("entry", self.entries), ("t0 part", self.t0_parts)):
            for key, m in group.items():
                for name in _STAT_FIELDS:
                    _positive(getattr(m, name), f"table {self.id}: {label} {key!r} {name}")

    def with_stat(self, stat: str) -> CostTable:
        """The same measurements, predicting with another statistic of the repeats."""
        return replace(self, stat=stat)

    def value(self, m: Measurement) -> float:
        return float(getattr(m, self.stat))

    @property
    def t0_value(self) -> float:
        """``T0`` under :attr:`stat` (the sum of the fixed parts), else the stored ``t0``."""
        if self.t0_parts:
            return float(sum(self.value(m) for m in self.t0_parts.values()))
        return self.t0

    @property
    def metric(self) -> str:
        return self.fingerprint.get("metric", "latency_ms")

    @property
    def id(self) -> str:
        return fingerprint_id(self.fingerprint)

    # ---- prediction ------------------------------------------------------------------------
    def check_space(self, space: MobileNetSpace) -> None:
        """Refuse a table made for another space, preset or resolution (never forced)."""
        want = current_fingerprint(space, self.fingerprint.get("backend", "torch-cpu"))
        bad = [k for k in STRUCTURAL if self.fingerprint.get(k) != want[k]]
        if bad:
            raise ValueError(
                "this table was measured for another space: "
                + ", ".join(f"{k} {self.fingerprint.get(k)!r} (space has {want[k]!r})" for k in bad)
            )
        missing = [k for k in distinct_descriptors(space) if k not in self.entries]
        if missing:
            raise ValueError(
                f"the table lacks {len(missing)} of the space's block descriptors (e.g. {missing[0]}); "
                "build it again to measure them"
            )

    def block_array(self, space: MobileNetSpace) -> np.ndarray:
        """``t[stage, block, option]`` of the entries' medians."""
        t = np.zeros((N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
        for s in range(N_STAGES):
            for b in range(MAX_DEPTH):
                for i, cfg in enumerate(BLOCK_OPTIONS):
                    t[s, b, i] = self.value(self.entries[space.block_descriptor(s, b, cfg).key()])
        return t

    def predict(self, space: MobileNetSpace, arch: Architecture, corrected: bool = False) -> float:
        """``T0 + sum of the active blocks' entries`` (then the correction when asked for)."""
        value = self.t0_value + sum(
            self.value(self.entries[d.key()]) for stage in space.descriptors(arch) for d in stage
        )
        return self._correct(value) if corrected else value

    def _correct(self, value):
        if self.correction is None:
            raise ValueError(
                "no fitted correction is stored with this table; run `budgetnas lut validate "
                "--fit-correction` first"
            )
        if self.correction.get("stat", "median") != self.stat:
            raise ValueError(
                f"the stored correction was fitted on {self.correction.get('stat')!r} predictions, "
                f"not {self.stat!r}; fit it again with this statistic"
            )
        return self.correction["slope"] * value + self.correction["intercept"]

    def form(self, space: MobileNetSpace, corrected: bool = False) -> QuadraticForm:
        self.check_space(space)
        form = block_form(space, self.block_array(space), self.t0_value)
        if corrected:
            self._correct(0.0)
            return form.scaled(self.correction["slope"], self.correction["intercept"])
        return form

    def cost_model(self, space: MobileNetSpace, corrected: bool = False) -> LookupTableCost:
        """This table as a cost model of ``space`` (exact form: the table sum)."""
        return LookupTableCost(self, space, corrected)

    # ---- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "kind": "budgetnas-cost-table",
            "unit": METRIC_UNITS.get(self.metric, ""),
            "fingerprint": self.fingerprint,
            "fingerprint_id": self.id,
            "source": self.source,
            "stat": self.stat,
            "t0": self.t0,
            "t0_parts": {k: m.to_dict() for k, m in self.t0_parts.items()},
            "entries": {k: m.to_dict() for k, m in sorted(self.entries.items())},
            "correction": self.correction,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "table") -> CostTable:
        """A table from its dictionary, every entry checked (finite, positive); ``where`` names
        the file or store the dictionary came from in the errors."""
        _check_shape(data, where)
        return cls(
            fingerprint=dict(data["fingerprint"]),
            entries=_measurements(data["entries"], where, "entry", require=True),
            t0=_positive(data["t0"], f"{where}: t0"),
            t0_parts=_measurements(data.get("t0_parts", {}), where, "t0 part"),
            correction=_check_correction(data.get("correction"), where),
            source=data.get("source", "measured"),
            meta=dict(data.get("meta", {})),
            stat=data.get("stat", "median"),
        )

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> CostTable:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no table file {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
        return cls.from_dict(data, where=str(path))

    # ---- SQLite ------------------------------------------------------------------------------
    def save(self, store: Store) -> None:
        """Write the table (entries, T0, correction) under its fingerprint id."""
        store.put_many(ENTRY_KIND, {f"{self.id}/{k}": m.to_dict() for k, m in self.entries.items()})
        head = self.to_dict()
        head.pop("entries")
        head.pop("correction")
        store.put(TABLE_KIND, self.id, head)
        if self.correction is not None:
            store.put(CORRECTION_KIND, self.id, self.correction)

    @classmethod
    def from_store(cls, store: Store, table_id: str) -> CostTable:
        head = store.get(TABLE_KIND, table_id)
        if head is None:
            raise FileNotFoundError(f"no table {table_id} in store {store.path}")
        entries = {
            key.split("/", 1)[1]: value for key, value in store.items(ENTRY_KIND, f"{table_id}/")
        }
        head = dict(head, entries=entries, correction=store.get(CORRECTION_KIND, table_id))
        return cls.from_dict(head, where=f"{store.path}: table {table_id}")

    def set_correction(
        self, slope: float, intercept: float, store: Store | None = None, **info
    ) -> None:
        """Store ``measured ~ slope * predicted + intercept`` beside the table; a ValueError (and
        nothing changed) for a correction the table would refuse when loaded."""
        correction = {
            "slope": float(slope),
            "intercept": float(intercept),
            "stat": self.stat,
            **info,
        }
        _check_correction(correction, f"table {self.id}")
        self.correction = correction
        if store is not None:
            store.put(CORRECTION_KIND, self.id, self.correction)


class LookupTableCost(CostModel):
    """A measured block table (:class:`CostTable`) as a cost model: ``evaluate`` is the table
    sum ``T0 + sum of the active blocks' entries``, and the form is that sum exactly (residual
    bounds 0). Not to be confused with :class:`~budgetnas.spaces.table.ColumnCost`, which reads a
    whole architecture's cost from a column of a tabular benchmark and fits a form to it."""

    def __init__(self, table: CostTable, space: MobileNetSpace, corrected: bool = False):
        self.table = table
        self.space = space
        self.metric = table.metric
        self.corrected = corrected
        self._form = table.form(space, corrected)

    def evaluate(self, arch: Architecture) -> float:
        return self.table.predict(self.space, arch, self.corrected)

    def evaluate_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        return self._form.values(self.space.encode_many(archs))

    def quadratic_form(self) -> QuadraticForm:
        return self._form


# ---- finding tables in a store ------------------------------------------------------------------
def stored_fingerprints(store: Store) -> dict[str, dict]:
    """Table id -> fingerprint of every table in a store."""
    return {key: head["fingerprint"] for key, head in store.items(TABLE_KIND)}


def table_lines(store: Store) -> list[str]:
    """One line per table of a store: id, metric, space, backend, threads, batch, clock, CPU."""
    lines = []
    for tid, head in store.items(TABLE_KIND):
        fp = head["fingerprint"]
        lines.append(
            f"{tid}  {fp.get('metric')}  {fp.get('space')}/{fp.get('preset')}  {fp.get('backend')} "
            f"threads={fp.get('threads')} batch={fp.get('batch')} clock={fp.get('clock')} "
            f"cpu={fp.get('cpu')!r} source={head.get('source')}"
        )
    return lines


def load_table(
    store: Store,
    space: MobileNetSpace,
    backend: str = "torch-cpu",
    threads: int = 1,
    batch: int = 1,
    metric: str = "latency_ms",
    force: bool = False,
    table_id: str | None = None,
    clock: str = "auto",
) -> CostTable:
    """This machine's table for ``space`` (same fingerprint), or a clear refusal.

    With ``table_id`` the named table is used as is (for searching with a table measured on a
    target device and imported here). Otherwise, when the store holds tables for the space only
    under other fingerprints, the error names the differing fields; ``force=True`` then takes the
    closest one (fewest differing fields).
    """
    if table_id is not None:
        table = CostTable.from_store(store, table_id)
        table.check_space(space)
        return table
    want = current_fingerprint(space, backend, threads, batch, metric, clock)
    wid = fingerprint_id(want)
    if (TABLE_KIND, wid) in store:
        return CostTable.from_store(store, wid)
    candidates = {
        tid: fp
        for tid, fp in stored_fingerprints(store).items()
        if all(fp.get(k) == want[k] for k in STRUCTURAL) and fp.get("metric") == metric
    }
    if not candidates:
        raise FileNotFoundError(
            f"no {metric} table for {space.name}/{space.config.name} in {store.path}; build one with "
            f"`budgetnas lut build --space {space.name} --preset {space.config.name} "
            f"--backend {backend} --threads {threads} --batch {batch} --store {store.path}` or "
            f"import one (`budgetnas lut import --store {store.path} TABLE.json`)"
        )
    best = min(candidates, key=lambda t: len(fingerprint_diff(candidates[t], want)))
    if not force:
        diffs = "; ".join(fingerprint_diff(candidates[best], want))
        raise FingerprintMismatch(
            f"the stored {metric} table {best} was measured elsewhere ({diffs}); its numbers do not "
            "describe this device. Build a table here, name the table explicitly (table_id / "
            "--table-id) to search with it, or force its use (force=True / --force)."
        )
    return CostTable.from_store(store, best)


def stored_entries(store: Store, table_id: str) -> dict[str, Measurement]:
    """The entries stored under table ``table_id``, by descriptor key."""
    entries = {key.split("/", 1)[1]: v for key, v in store.items(ENTRY_KIND, f"{table_id}/")}
    try:
        return _measurements(entries, f"{store.path}: table {table_id}", "entry")
    except ValueError as err:
        raise ValueError(f"{err}; build the table again with --force to measure anew") from None


def import_table(store: Store, path: str | Path) -> CostTable:
    """Read a JSON table and store it under its own fingerprint (source ``imported``)."""
    table = CostTable.from_json(path)
    table.source = "imported"
    table.save(store)
    return table


def fit_correction(predicted: Sequence[float], measured: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``measured ~ slope * predicted + intercept``."""
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    if p.size < 2 or np.ptp(p) == 0:
        raise ValueError("a correction needs at least two different predictions")
    slope, intercept = np.polyfit(p, m, 1)
    return float(slope), float(intercept)


# ---- checking a table's dictionary ---------------------------------------------------------------
_REQUIRED = ("format", "kind", "fingerprint", "entries", "t0")
_OPTIONAL = ("unit", "fingerprint_id", "source", "stat", "t0_parts", "correction", "meta")
_STAT_FIELDS = ("median", "q1", "q3", "min", "max")
_COUNT_FIELDS = ("n", "number")


def _finite(value) -> float | None:
    """``value`` as a finite float, or None (not a number, a boolean, NaN, infinite, too large)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _positive(value, what: str) -> float:
    """``value`` as a float when it is a finite number > 0, else a ValueError naming ``what``."""
    f = _finite(value)
    if f is None or f <= 0:
        raise ValueError(f"{what} {value!r} is not a positive finite number")
    return f


def _check_shape(data, where: str) -> None:
    """Refuse anything but a table object with exactly the known keys."""
    if not isinstance(data, dict):
        raise ValueError(
            f"{where}: a cost table is a JSON object with kind 'budgetnas-cost-table', "
            f"not a {type(data).__name__}"
        )
    if data.get("kind") != "budgetnas-cost-table":
        raise ValueError(
            f"{where}: not a budgetnas cost table (missing kind 'budgetnas-cost-table')"
        )
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{where}: unsupported table format {data.get('format')!r}")
    missing = [k for k in _REQUIRED if k not in data]
    extra = sorted(str(k) for k in data if k not in _REQUIRED + _OPTIONAL)
    if missing or extra:
        raise ValueError(
            f"{where}: "
            + "; ".join(
                ([f"missing key {', '.join(map(repr, missing))}"] if missing else [])
                + ([f"unknown key {', '.join(map(repr, extra))}"] if extra else [])
            )
            + f" (a table has the keys {', '.join(_REQUIRED + _OPTIONAL)})"
        )
    for key, kind in (("fingerprint", dict), ("t0_parts", dict), ("meta", dict), ("source", str)):
        if key in data and not isinstance(data[key], kind):
            raise ValueError(
                f"{where}: key {key!r} must be a JSON {kind.__name__}, not {data[key]!r}"
            )
    fp = data["fingerprint"]
    odd = [k for k, v in fp.items() if not isinstance(v, (str, int, float, bool, type(None)))]
    if odd:
        raise ValueError(f"{where}: fingerprint field {odd[0]!r} is not a plain value")
    if fp.get("metric", "latency_ms") not in METRIC_UNITS:
        raise ValueError(
            f"{where}: fingerprint metric {fp.get('metric')!r} is not one of "
            f"{', '.join(METRIC_UNITS)}"
        )
    if data.get("stat", "median") not in STATS:
        raise ValueError(
            f"{where}: unknown statistic {data.get('stat')!r}; choose one of {', '.join(STATS)}"
        )


def read_measurement(value, what: str) -> Measurement:
    """One entry (median, quartiles, extremes, counts), every statistic finite and positive."""
    fields = _STAT_FIELDS + _COUNT_FIELDS
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object with {', '.join(fields)}, not {value!r}")
    missing = [k for k in (*_STAT_FIELDS, "n") if k not in value]
    extra = sorted(str(k) for k in value if k not in fields)
    if missing or extra:
        raise ValueError(
            f"{what}: "
            + ("missing " + ", ".join(missing) if missing else "unknown key " + ", ".join(extra))
            + f" (an entry has {', '.join(fields)})"
        )
    stats = {k: _positive(value[k], f"{what} {k}") for k in _STAT_FIELDS}
    counts = {}
    for k in _COUNT_FIELDS:
        c = value.get(k, 1)
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"{what} {k} {c!r} is not a positive whole number")
        counts[k] = c
    return Measurement(**stats, **counts)


def _measurements(values, where: str, label: str, require: bool = False) -> dict[str, Measurement]:
    if not isinstance(values, dict) or (require and not values):
        raise ValueError(f"{where}: the {label} values must be a non-empty JSON object of entries")
    return {k: read_measurement(v, f"{where}: {label} {k!r}") for k, v in values.items()}


def _check_correction(correction, where: str) -> dict | None:
    """A stored correction: a positive finite slope, a finite intercept, a known statistic."""
    if correction is None:
        return None
    if not isinstance(correction, dict) or not {"slope", "intercept"} <= set(correction):
        raise ValueError(f"{where}: the correction must be an object with slope and intercept")
    _positive(correction["slope"], f"{where}: correction slope")
    if _finite(correction["intercept"]) is None:
        raise ValueError(
            f"{where}: correction intercept {correction['intercept']!r} is not a finite number"
        )
    if correction.get("stat", "median") not in STATS:
        raise ValueError(f"{where}: correction statistic {correction.get('stat')!r} is unknown")
    return correction


#: a latency table is the common case; the name used in the issue
LatencyTable = CostTable
