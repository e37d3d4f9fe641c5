"""Latency tables of other devices: import a kit's measurements, name the device, say how well
its table predicts it, and find it again from a budget such as ``latency_pi4_ms<=30``.

A device's table comes from the measuring kit (:mod:`budgetnas.costs.kit`): the kit's script
measures every block, the fixed parts and about 30 whole validation networks on the device, in
interleaved rounds, and writes one JSON file. :func:`import_measurements` turns that file into a
:class:`~budgetnas.costs.table.CostTable` (``source="kit"``), stores it in a store under the
device's name and computes the *verdict*: the table's prediction of each validation network
against its measurement on the device (share within +-5% and +-10%, worst error, bias). A kit
made for another space or preset, or for a definition of the preset that differs from this
release's (its space fingerprint), is refused.

The name of a device is a budget's middle word: ``latency_NAME_ms`` resolves to the table stored
under NAME (:func:`device_of_metric`, :func:`device_table`); ``latency_ms`` stays this machine's
own table.

Example:
    >>> device_of_metric("latency_pi4_ms"), device_of_metric("latency_ms")
    ('pi4', None)
    >>> check_name("Pixel 7")
    Traceback (most recent call last):
    ...
    ValueError: device name 'Pixel 7': use 1-32 lowercase letters, digits and underscores, starting with a letter (it becomes the budget name latency_NAME_ms)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from budgetnas.costs.latency import Measurement
from budgetnas.costs.table import CostTable, read_measurement
from budgetnas.store import Store

__all__ = [
    "DEVICE_KIND",
    "MEASUREMENTS_KIND",
    "DeviceRecord",
    "check_name",
    "device_lines",
    "device_metric",
    "device_of_metric",
    "device_records",
    "device_table",
    "import_measurements",
    "import_table_as_device",
    "read_measurements",
    "save_device",
    "verdict_text",
]

#: store kind of the device records (name -> table id, verdict)
DEVICE_KIND = "lut_device"
#: the kind of the file the kit's script writes
MEASUREMENTS_KIND = "budgetnas-kit-measurements"
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_METRIC_RE = re.compile(r"(?:latency|lat)_(?P<name>[a-z][a-z0-9_]*)_ms")
_RESERVED = {"ms", "us", "s", "pct", "ratio"}


def check_name(name: str) -> str:
    """A device name usable in a budget (``latency_NAME_ms``), or a clear error."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in _RESERVED:
        raise ValueError(
            f"device name {name!r}: use 1-32 lowercase letters, digits and underscores, starting "
            "with a letter (it becomes the budget name latency_NAME_ms)"
        )
    return name


def device_of_metric(metric: str) -> str | None:
    """The device a canonical latency metric names (``latency_pi4_ms`` -> ``pi4``), else None."""
    m = _METRIC_RE.fullmatch(metric)
    return m.group("name") if m else None


def device_metric(name: str) -> str:
    """The budget metric of device ``name``."""
    return f"latency_{check_name(name)}_ms"


@dataclass
class DeviceRecord:
    """A named device: its table's id, where and how it was measured, and the verdict of the
    table on the device's validation networks (None when the table came without them)."""

    name: str
    table: str
    device: dict[str, Any]
    kit: dict[str, Any]
    verdict: dict[str, Any] | None = None
    records: list[dict] = field(default_factory=list)
    imported: str = ""
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "device": self.device,
            "kit": self.kit,
            "verdict": self.verdict,
            "records": self.records,
            "imported": self.imported,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceRecord:
        return cls(
            name=data["name"],
            table=data["table"],
            device=dict(data.get("device") or {}),
            kit=dict(data.get("kit") or {}),
            verdict=data.get("verdict"),
            records=list(data.get("records") or []),
            imported=data.get("imported", ""),
            source=data.get("source", ""),
        )

    @property
    def where(self) -> str:
        """How the device was measured, in words: processor, runtime, provider, threads, batch."""
        d = self.device
        runtime = f"onnxruntime {d.get('onnxruntime', '?')}" if d.get("onnxruntime") else "?"
        return (
            f"{d.get('processor') or d.get('machine') or 'unknown processor'}, {runtime} "
            f"{d.get('provider', '')}, {d.get('threads', '?')} thread(s), batch "
            f"{self.kit.get('batch', '?')}"
        ).replace("  ", " ")

    def accuracy_text(self) -> str:
        """The verdict in one phrase (what a predicted budget row says of its table)."""
        return verdict_text(self.verdict)


def verdict_text(verdict: dict | None) -> str:
    """``30 validation networks: 97% within +-5%, 100% within +-10%, worst +7.2%, bias +1.1%``."""
    if not verdict:
        return "no whole networks were measured on the device: the table's accuracy is unknown"
    return (
        f"{verdict['samples']} validation networks measured on the device: "
        f"{100 * verdict['within_5pct']:.0f}% within +-5%, {100 * verdict['within_10pct']:.0f}% "
        f"within +-10%, worst {verdict['worst_error_pct']:+.1f}%, bias {verdict['bias_pct']:+.1f}%"
    )


# ---- reading the kit's measurements ---------------------------------------------------------------
def read_measurements(path: str | Path) -> dict[str, Any]:
    """The JSON the kit's ``measure.py`` wrote, checked: kind, format, the kit and device records
    and one well-formed measurement per result (every statistic finite and positive)."""
    from budgetnas.files import read_json

    path = Path(path)
    data = read_json(path, "measurements file")
    if not isinstance(data, dict) or data.get("kind") != MEASUREMENTS_KIND:
        raise ValueError(
            f"{path} is not the output of a kit's measure.py (kind {MEASUREMENTS_KIND!r}); a table "
            "written by `budgetnas lut export` is imported the same way, without the verdict"
        )
    if data.get("format") != 1:
        raise ValueError(f"{path}: unsupported measurements format {data.get('format')!r}")
    for key in ("kit", "device", "results"):
        want = list if key == "results" else dict
        if not isinstance(data.get(key), want):
            raise ValueError(f"{path}: {key!r} must be a JSON {want.__name__}")
    for key in ("purpose", "space", "preset", "space_fingerprint", "batch"):
        if key not in data["kit"]:
            raise ValueError(f"{path}: the kit record lacks {key!r}")
    results = []
    for i, r in enumerate(data["results"]):
        if not isinstance(r, dict) or not isinstance(r.get("role"), str) or "key" not in r:
            raise ValueError(f"{path}: result {i} must be an object with role, key and statistics")
        stats = {k: v for k, v in r.items() if k not in ("role", "key")}
        m = read_measurement(stats, f"{path}: result {r['role']} {r['key']!r}")
        results.append({"role": r["role"], "key": str(r["key"]), "m": m})
    data["results"] = results
    return data


def _space_of(kit: dict, preset: str | None):
    """The space the kit was made for, refused when ``preset`` (asked) or this release's
    definition of the kit's preset differs."""
    from budgetnas.costs.kit import space_fingerprint
    from budgetnas.spaces.mobilenet import MobileNetSpace

    if kit["space"] != "mobilenet":
        raise ValueError(f"the kit was made for space {kit['space']!r}; tables exist for mobilenet")
    if preset is not None and preset != kit["preset"]:
        raise ValueError(
            f"the kit was made for preset {kit['preset']!r}, not {preset!r}: make a kit for "
            f"{preset!r} with `budgetnas lut kit --preset {preset}` and measure it on the device"
        )
    space = MobileNetSpace(preset=kit["preset"])
    if space_fingerprint(space) != kit["space_fingerprint"]:
        raise ValueError(
            f"the kit's preset {kit['preset']!r} is not this release's {kit['preset']!r} (space "
            f"fingerprint {kit['space_fingerprint']} vs {space_fingerprint(space)}): its blocks "
            "are not the space's; make a new kit with this release and measure it again"
        )
    return space


def _fingerprint(name: str, kit: dict, device: dict, resolution: int) -> dict:
    """The table's fingerprint: the device's name and everything the script says of it."""
    return {
        "metric": "latency_ms",
        "clock": str(device.get("clock", "wall")),
        "cpu": str(device.get("processor") or device.get("machine") or "unknown"),
        "threads": int(device.get("threads", 1)),
        "torch": "unused",
        "onnxruntime": str(device.get("onnxruntime", "unknown")),
        "backend": "onnxruntime",
        "provider": str(device.get("provider", "unknown")),
        "platform": str(device.get("platform", "unknown")),
        "batch": int(kit["batch"]),
        "resolution": int(resolution),
        "space": kit["space"],
        "preset": kit["preset"],
        "device": name,
    }


def _call_cost(space, raw: CostTable, networks, by_role):
    """The runtime's cost of one call (ms), and the verdict of the table on the validation
    networks.

    A whole network pays one call into the runtime, the sum of its parts (stem, head, blocks) one
    per part, so the table takes ``call`` off every part and adds it once. ``call`` is estimated
    from the device's own networks: each gives ``(raw table sum - measured) / (parts - 1)``, and
    the median of these is robust to a noisy network. The verdict is *leave-one-out*: each
    network is predicted with the ``call`` of the others, so it is not judged by a value fitted
    on itself. With fewer than 3 networks the empty model's time is used, which no network
    was used to fit.
    """
    import numpy as np

    from budgetnas.costs.validate import summarize

    keys = list(networks)
    archs = [space.from_string(k) for k in keys]
    sums = [raw.predict(space, a) for a in archs]
    parts = [sum(len(stage) for stage in space.descriptors(a)) + 2 for a in archs]
    measured = np.array([networks[k].median for k in keys], dtype=float)
    implied = np.array([(t - y) / (n - 1) for t, n, y in zip(sums, parts, measured, strict=True)])
    empty = by_role.get("overhead", {}).get("call")
    if len(keys) >= 3:
        call = max(0.0, float(np.median(implied)))
        loo = [max(0.0, float(np.median(np.delete(implied, i)))) for i in range(len(keys))]
        method = "leave-one-out: each network predicted with the call cost of the others"
    else:
        call = float(empty.median) if empty is not None else 0.0
        loo = [call] * len(keys)
        method = "the empty model's call cost"
    if not keys:
        return call, None, []
    predicted = np.array([t - (n - 1) * c for t, n, c in zip(sums, parts, loo, strict=True)])
    errors = (predicted - measured) / measured * 100
    verdict = summarize(predicted, measured).to_json()
    verdict["worst_error_pct"] = float(errors[np.argmax(np.abs(errors))])
    verdict["method"] = method
    verdict["call_ms"] = call
    records = [
        {
            "arch": k,
            "predicted_ms": float(p),
            "measured_ms": float(y),
            "measured_q1_ms": networks[k].q1,
            "measured_q3_ms": networks[k].q3,
        }
        for k, p, y in zip(keys, predicted, measured, strict=True)
    ]
    return call, verdict, records


def _less(m: Measurement, call: float) -> Measurement:
    """A part's measurement less the cost of one call (ms), each statistic kept above a tenth
    of its own value."""

    def cut(v: float) -> float:
        return max(v - call, 0.1 * v)

    stats = {k: cut(getattr(m, k)) for k in ("median", "q1", "q3", "min", "max")}
    return replace(m, **stats)


def import_measurements(
    path: str | Path, name: str, store: Store, preset: str | None = None
) -> DeviceRecord:
    """Store the table of a kit's measurements under device ``name``, with its verdict.

    Refuses a verification measurement (that goes to ``budgetnas verify``), a kit of another
    space or preset (``preset``: the one the user expects), a kit whose space fingerprint is not
    this release's, and measurements that miss any block of the space or its fixed parts.
    """
    check_name(name)
    data = read_measurements(path)
    kit, device = data["kit"], data["device"]
    if kit["purpose"] != "table":
        raise ValueError(
            f"{path} measures a verification kit (the network a run found), not a table kit: "
            "fold it into the run with `budgetnas verify RUN --measurements FILE`"
        )
    space = _space_of(kit, preset)
    by_role: dict[str, dict[str, Any]] = {}
    for r in data["results"]:
        by_role.setdefault(r["role"], {})[r["key"]] = r["m"]
    parts = {k: m for k, m in by_role.get("stem", {}).items()}
    parts.update(by_role.get("head", {}))
    if set(parts) != {"stem", "head"}:
        raise ValueError(f"{path}: the measurements lack the stem or the head")
    fingerprint = _fingerprint(name, kit, device, space.config.image_size)
    meta = {"settings": data.get("settings", {}), "device": device}
    raw = CostTable(fingerprint, dict(by_role.get("block", {})), 1.0, parts, source="kit")
    raw.check_space(space)  # every block of the space measured
    call, verdict, records = _call_cost(space, raw, by_role.get("network", {}), by_role)
    entries = raw.entries
    if call > 0:  # a network pays one call, a sum of parts one per part: take it off
        entries = {k: _less(m, call) for k, m in entries.items()}
        parts = {k: _less(m, call) for k, m in parts.items()}
        parts["call"] = Measurement(call, call, call, call, call, 1)
    table = replace(
        raw,
        entries=entries,
        t0=float(sum(m.median for m in parts.values())),
        t0_parts=parts,
        meta={**meta, "call_ms": call},
    )
    record = DeviceRecord(
        name=name,
        table=table.id,
        device=device,
        kit=kit,
        verdict=verdict,
        records=records,
        imported=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        source=str(Path(path).resolve()),
    )
    save_device(store, table, record)
    return record


def import_table_as_device(table: CostTable, name: str, store: Store) -> DeviceRecord:
    """Name a table already read (``budgetnas lut export`` JSON) as device ``name``; it has no
    validation networks, so its verdict is unknown."""
    check_name(name)
    if table.metric != "latency_ms":
        raise ValueError(f"a device's table holds latency_ms, this one {table.metric}")
    fp = dict(table.fingerprint, device=name)
    named = replace(table, fingerprint=fp)
    kit = {k: fp.get(k) for k in ("space", "preset", "batch")}
    device = {
        "processor": fp.get("cpu"),
        "threads": fp.get("threads"),
        "clock": fp.get("clock"),
        "provider": fp.get("backend"),
    }
    record = DeviceRecord(
        name, named.id, device, kit, imported=time.strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    save_device(store, named, record)
    return record


def save_device(store: Store, table: CostTable, record: DeviceRecord) -> None:
    """Store a device's table and its record (the name it is budgeted by)."""
    table.save(store)
    store.put(DEVICE_KIND, record.name, record.to_json())


# ---- finding a device again -------------------------------------------------------------------------
def device_records(store: Store) -> dict[str, DeviceRecord]:
    """Every named device of a store."""
    return {k: DeviceRecord.from_json(v) for k, v in store.items(DEVICE_KIND)}


def device_table(store: Store, name: str, space=None) -> tuple[CostTable, DeviceRecord]:
    """The table and record of device ``name`` (checked against ``space`` when given)."""
    value = store.get(DEVICE_KIND, name)
    if value is None:
        known = sorted(device_records(store))
        listed = f"known devices: {', '.join(known)}" if known else "it holds no devices"
        raise FileNotFoundError(
            f"no device named {name!r} in {store.path} ({listed}); measure one with `budgetnas "
            f"lut kit`, then `budgetnas lut import table.json --name {name} --store {store.path}`"
        )
    record = DeviceRecord.from_json(value)
    table = CostTable.from_store(store, record.table)
    if space is not None:
        try:
            table.check_space(space)
        except ValueError as err:
            raise ValueError(
                f"device {name!r}: {err}. Make a kit for preset {space.config.name!r} (`budgetnas "
                f"lut kit --preset {space.config.name}`), measure it on the device and import it"
            ) from None
    return table, record


def device_lines(store: Store) -> list[str]:
    """One line per named device: name, space/preset, where it was measured, the verdict."""
    return [
        f"{name}  {r.kit.get('space')}/{r.kit.get('preset')}  {r.where}  table {r.table}: "
        f"{r.accuracy_text()}"
        for name, r in sorted(device_records(store).items())
    ]
