"""Budgets on other devices in a run: their tables, their verification kits, their measurements.

A budget ``latency_NAME_ms`` names a device whose table was imported (``budgetnas lut import
table.json --name NAME``, :mod:`budgetnas.costs.device_tables`). The run copies that table into
its own store (so a resumed or verified run reads the table it searched with, whatever happens
to the device store), searches with it, and, the device being out of reach, writes a
*verification kit* for the found network under ``OUT/verify/NAME/``: the network as ONNX and the
kit's measuring script. Its output goes back into the run with ``budgetnas verify RUN
--measurements FILE`` (:mod:`budgetnas.pipeline.verify`), which records the measurement here;
the closed loop then treats it like one of this machine's measurements (tightening the budget by
the observed ratio when it breaks).

Example:
    >>> device_budgets(["latency_pi4_ms<=30", "params_m<=0.5", "latency_ms<=5"])
    {'latency_pi4_ms': 'pi4'}
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from budgetnas.costs.device_tables import (
    DEVICE_KIND,
    DeviceRecord,
    device_of_metric,
    device_table,
    save_device,
)
from budgetnas.costs.table import CostTable
from budgetnas.store import Store

__all__ = [
    "MEASURED_KIND",
    "VERIFY_DIR",
    "RunDevice",
    "device_budgets",
    "device_stage",
    "devices_result",
    "find_device",
    "measure_command",
    "measured_on_device",
    "record_measurement",
    "recorded_measurements",
    "recorded_measurer",
    "verify_kit_stage",
]

#: store kind of the measurements folded in by ``budgetnas verify`` (key ``NAME/arch``)
MEASURED_KIND = "device_measurement"
#: the run directory's folder of verification kits, one per device
VERIFY_DIR = "verify"
RUN_STORE = "store.sqlite"


@dataclass
class RunDevice:
    """A device a run budgets: its metric, table and record."""

    metric: str
    table: CostTable
    record: DeviceRecord

    @property
    def name(self) -> str:
        return self.record.name

    def where(self) -> str:
        """What a budget row says of the device and of its table's accuracy there."""
        return f"device {self.name} ({self.record.where}); its table: {self.record.accuracy_text()}"


def device_budgets(budgets: Sequence[str]) -> dict[str, str]:
    """The budgets' device metrics, each with its device name."""
    from budgetnas.units import parse_budgets

    out = {}
    for b in parse_budgets(budgets):
        name = device_of_metric(b.metric)
        if name is not None:
            out[b.metric] = name
    return out


def find_device(cfg, out: str | Path | None, name: str, space=None):
    """Device ``name``'s table and record: the run's own copy when the run directory has one,
    else the configured device store (``cfg.search.devices``)."""
    if out is not None and (Path(out) / RUN_STORE).is_file():
        own = Store(Path(out) / RUN_STORE)
        try:
            return device_table(own, name, space)
        except FileNotFoundError:
            pass
    path = Path(cfg.search.devices)
    if not path.is_file():
        raise FileNotFoundError(
            f"budget on device {name!r}: the device store {path} does not exist; measure the "
            f"device with `budgetnas lut kit` and import its table with `budgetnas lut import "
            f"table.json --name {name} --store {path}` (or point --devices at the store holding it)"
        )
    return device_table(Store(path), name, space)


def device_stage(ctx) -> dict[str, RunDevice]:
    """Every device budget's table, copied into the run's store (read from there on resume)."""
    space = ctx.supernet().space
    devices = {}
    for metric, name in device_budgets(ctx.cfg.budgets).items():
        table, record = find_device(ctx.cfg, ctx.out, name, space)
        if ctx.store.get(DEVICE_KIND, name) is None:
            save_device(ctx.store, table, record)
            ctx.log(f"device {name}: table {table.id} copied into the run ({record.where})")
        devices[metric] = RunDevice(metric, table, record)
        ctx.log(f"device {name}: {record.accuracy_text()}")
    return devices


# ---- measurements folded in by `budgetnas verify` ----------------------------------------------------
def record_measurement(store: Store, name: str, arch: str, value: dict[str, Any]) -> None:
    """Keep a device's measurement of network ``arch`` (``value``: median, spread, where)."""
    store.put(MEASURED_KIND, f"{name}/{arch}", dict(value, recorded=time.time()))


def recorded_measurements(store: Store, name: str | None = None) -> dict[str, dict]:
    """``{"NAME/arch": measurement}`` of one device, or of all."""
    prefix = f"{name}/" if name is not None else ""
    return dict(store.items(MEASURED_KIND, prefix))


def measured_on_device(store: Store, name: str, arch: str, stat: str = "median") -> float | None:
    """The recorded measurement of ``arch`` on device ``name`` (ms), or None."""
    value = store.get(MEASURED_KIND, f"{name}/{arch}")
    return None if value is None else float(value[stat])


def recorded_measurer(store: Store, device: RunDevice):
    """A closed-loop measurer of the device: the recorded measurement of an architecture, or
    None where the device has not measured it (its row stays predicted)."""

    def measure(arch) -> float | None:
        return measured_on_device(store, device.name, str(arch), device.table.stat)

    return measure


# ---- verification kits ------------------------------------------------------------------------------
def measure_command(device: RunDevice) -> str:
    """The command that measures a kit on the device as its table was measured."""
    d = device.record.device
    provider = str(d.get("provider", "CPUExecutionProvider"))
    short = provider.removesuffix("ExecutionProvider").lower()
    extra = "" if short in ("cpu", "") else f" --provider {short}"
    return f"python measure.py --threads {d.get('threads', 1)}{extra} --out measured.json"


def verify_kit_stage(ctx, arch, devices: dict[str, RunDevice]) -> dict[str, str]:
    """``OUT/verify/NAME/`` for every device whose budget the found network holds only by
    prediction: the network as ONNX at the device table's batch, and the measuring script. A
    kit already there for this network is kept; one for an earlier network is replaced."""
    from budgetnas.costs.kit import read_manifest, write_kit
    from budgetnas.supernet import extract

    kits = {}
    for device in devices.values():
        folder = ctx.out / VERIFY_DIR / device.name
        if measured_on_device(ctx.store, device.name, str(arch)) is not None:
            continue
        try:
            current = read_manifest(folder)
            if [m["key"] for m in current["models"]] == [str(arch)]:
                kits[device.name] = str(folder)
                continue
        except (FileNotFoundError, ValueError):
            pass
        net = extract(ctx.supernet().net, arch).eval()
        write_kit(
            folder,
            ctx.supernet().space,
            int(device.table.fingerprint.get("batch", 1)),
            blocks=False,
            networks={str(arch): net},
            purpose="verify",
            force=True,
        )
        kits[device.name] = str(folder)
        ctx.log(
            f"device {device.name}: verification kit in {folder}: on the device run "
            f"`{measure_command(device)}`, then `budgetnas verify {ctx.out} --measurements "
            "measured.json`"
        )
    return kits


def devices_result(ctx, arch, devices: dict[str, RunDevice], kits: dict[str, str]) -> dict:
    """``result.json``'s ``devices``: per device its metric, table, where it was measured, the
    table's verdict there, whether the found network was measured on it, and its kit."""
    out = {}
    for metric, device in devices.items():
        measured = measured_on_device(ctx.store, device.name, str(arch), device.table.stat)
        out[device.name] = {
            "metric": metric,
            "table": device.table.id,
            "where": device.record.where,
            "measure": measure_command(device),
            "verdict": device.record.verdict,
            "measured_ms": measured,
            "verify_kit": kits.get(device.name),
            "measurements": len(recorded_measurements(ctx.store, device.name)),
        }
    return out
