"""``budgetnas verify RUN --measurements FILE``: fold a device's measurement into a run.

A run with a budget on a device out of reach (``latency_NAME_ms``) searched with that device's
table and wrote a verification kit in ``RUN/verify/NAME/`` (the found network as ONNX and the
measuring script). The script's output comes back here. :func:`verify_run` checks that it
measures that kit (the manifest's checksum), the run's current network, under the conditions of
the device's table (provider, threads, batch), records the measurement in the run's store and runs
the pipeline again on the run directory, which reuses every finished stage:

* the measurement holds the budget: the budget's row becomes *measured* (where, and how), and
  ``result.json`` and ``summary.md`` say so;
* it breaks the budget: the closed loop tightens that budget by the observed ratio
  (``limit * predicted / measured``) and searches again; the new network is fine-tuned and
  exported, and a new kit for it is written, to be measured in turn. Never silently over.

Example:
    budgetnas verify runs/pi4 --measurements measured.json
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from budgetnas.costs.device_tables import device_metric, device_table, read_measurements
from budgetnas.pipeline.devices import VERIFY_DIR, record_measurement
from budgetnas.store import Store

__all__ = ["VerifyOutcome", "match_kit", "verify_run"]


@dataclass
class VerifyOutcome:
    """What a verification did: the device, the measured network and its measurement, whether it
    held the budget, and the run's result after the pipeline ran again."""

    device: str
    arch: str
    measured_ms: float
    limit: float
    predicted_ms: float
    held: bool
    result: object  # the RunResult written after the re-run

    def summary(self) -> str:
        verdict = "holds" if self.held else "BREAKS"
        lines = [
            f"device {self.device}: measured {self.measured_ms:.4g} ms (predicted "
            f"{self.predicted_ms:.4g}), {verdict} the budget of {self.limit:g} ms"
        ]
        new = self.result.arch
        if new != self.arch:
            row = next(r for r in self.result.budgets if r.metric == device_metric(self.device))
            lines.append(
                f"searched again under the tightened budget (solver limit {row.solver_limit:.4g} "
                f"ms): new network {new}, predicted {row.predicted:.4g} ms; measure "
                f"RUN/{VERIFY_DIR}/{self.device} on the device and run `budgetnas verify` again"
            )
        status = "every budget met" if self.result.ok else "BUDGET NOT MET"
        lines.append(f"run: {status}; test accuracy {100 * self.result.test_acc:.2f}%")
        return "\n".join(lines)


def match_kit(run_dir: Path, manifest_sha256: str) -> tuple[str, dict]:
    """The device whose verification kit in ``run_dir/verify/`` has this manifest checksum, and
    its manifest."""
    from budgetnas.costs.kit import read_manifest

    folder = run_dir / VERIFY_DIR
    for kit in sorted(folder.glob("*/manifest.json")) if folder.is_dir() else []:
        if hashlib.sha256(kit.read_bytes()).hexdigest() == manifest_sha256:
            return kit.parent.name, read_manifest(kit.parent)
    raise ValueError(
        f"the measurements are not of a verification kit of {run_dir} (no manifest in "
        f"{folder} has their checksum): measure the kit the run wrote, RUN/{VERIFY_DIR}/NAME, "
        "on the device (a rerun replaces the kit when the network changes)"
    )


def _check_conditions(name: str, device: dict, table_fp: dict, kit: dict) -> None:
    """The measurement must be taken as the device's table was: provider, threads, batch."""
    got = {"provider": device.get("provider"), "threads": device.get("threads")}
    got["batch"] = kit.get("batch")
    diffs = [
        f"{k} {got[k]!r} (its table: {table_fp[k]!r})"
        for k in got
        if table_fp.get(k) is not None and got[k] != table_fp[k]
    ]
    if diffs:
        raise ValueError(
            f"device {name}: the network was measured under other conditions than the device's "
            f"table: {'; '.join(diffs)}; measure again with the table's settings (e.g. "
            f"`python measure.py --threads {table_fp.get('threads', 1)}`)"
        )


def verify_run(
    run_dir: str | Path, measurements: str | Path, log: Callable[[str], None] | None = None
) -> VerifyOutcome:
    """Check, record and fold in a device's measurement of the run's network (module doc)."""
    from budgetnas.pipeline.config import load_run_config
    from budgetnas.pipeline.result import RunResult
    from budgetnas.pipeline.run import Pipeline

    run_dir = Path(run_dir)
    before = RunResult.load(run_dir)
    data = read_measurements(measurements)
    kit = data["kit"]
    if kit.get("purpose") != "verify":
        raise ValueError(
            f"{measurements} measures a table kit, not a run's network: import it with "
            "`budgetnas lut import FILE --name NAME`"
        )
    name, _manifest = match_kit(run_dir, str(kit.get("manifest_sha256")))
    networks = [r for r in data["results"] if r["role"] == "network"]
    if len(networks) != 1:
        raise ValueError(f"{measurements}: a verification holds one network, not {len(networks)}")
    arch, m = networks[0]["key"], networks[0]["m"]
    if arch != before.arch:
        raise ValueError(
            f"{measurements} measures {arch}, an earlier network of the run; its network is now "
            f"{before.arch}: measure RUN/{VERIFY_DIR}/{name} again"
        )
    store = Store(run_dir / "store.sqlite")
    table, _record = device_table(store, name)
    _check_conditions(name, data["device"], table.fingerprint, kit)
    row = next((r for r in before.budgets if r.metric == device_metric(name)), None)
    if row is None:
        raise ValueError(f"the run has no budget on device {name} ({device_metric(name)})")
    value = table.value(m)
    record_measurement(
        store,
        name,
        arch,
        {
            **m.to_dict(),
            "device": data["device"],
            "file": str(Path(measurements).resolve()),
        },
    )
    cfg, preset = load_run_config(run_dir)
    say = log or (lambda _msg: None)
    say(f"device {name}: measured {value:.4g} ms for {arch}; running the pipeline again")
    after = Pipeline(cfg, run_dir, log=log, preset=preset).run()
    return VerifyOutcome(
        device=name,
        arch=arch,
        measured_ms=value,
        limit=row.limit,
        predicted_ms=float(row.predicted if row.predicted is not None else row.value),
        held=value <= row.limit + 1e-9 * max(1.0, row.limit),
        result=after,
    )
