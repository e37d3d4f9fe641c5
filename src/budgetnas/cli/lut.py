"""``budgetnas lut build|validate|kit|export|import|list``: latency (and energy) lookup tables.

Example:
    budgetnas lut build --space mobilenet --preset fmnist-small --backend torch-cpu --threads 1 --batch 1
    budgetnas lut validate --space mobilenet --preset fmnist-small --backend torch-cpu \\
        --threads 1 --batch 1 --samples 30 --json runs/lut/validate.json
    budgetnas lut kit --preset fmnist-small --out kit      # then, on the device: python measure.py
    budgetnas lut import table.json --name pi4             # budgets: latency_pi4_ms<=30
"""

from __future__ import annotations

import json
import sys
import time

from budgetnas.costs.latency import BACKENDS
from budgetnas.costs.validate import DEFAULT_STORE

__all__ = [
    "register",
    "run_build",
    "run_export",
    "run_import",
    "run_kit",
    "run_list",
    "run_validate",
]


def _common(p, metric: bool = True) -> None:
    p.add_argument("--space", default="mobilenet", help="search space (only mobilenet has blocks)")
    p.add_argument("--preset", default="fmnist-small", help="macro structure of the space")
    p.add_argument("--backend", default="torch-cpu", choices=BACKENDS)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--clock",
        default="auto",
        choices=("auto", "wall", "thread", "cuda"),
        help="auto: the thread's CPU time with 1 thread (robust on a shared CPU), "
        "wall-clock time otherwise; CUDA events on torch-cuda",
    )
    p.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite store (default {DEFAULT_STORE})")
    if metric:
        p.add_argument("--metric", default="latency_ms", choices=("latency_ms", "energy_mj"))
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def register(subparsers) -> None:
    from budgetnas.config import add_arguments
    from budgetnas.costs.validate import ValidateConfig

    parser = subparsers.add_parser(
        "lut", help="build, validate, export and import cost lookup tables"
    )
    sub = parser.add_subparsers(dest="lut", metavar="ACTION", required=True)

    b = sub.add_parser("build", help="measure one entry per block descriptor plus T0")
    _common(b)
    b.add_argument("--repeats", type=int, default=30)
    b.add_argument("--warmup", type=int, default=5)
    b.add_argument("--force", action="store_true", help="measure again entries already stored")
    b.set_defaults(func=run_build)

    v = sub.add_parser("validate", help="compare the table with whole networks measured end to end")
    add_arguments(v, ValidateConfig)
    v.add_argument("--debug", action="store_true", help="show tracebacks")
    v.set_defaults(func=run_validate)

    k = sub.add_parser(
        "kit",
        help="write a measuring kit for a device without PyTorch (ONNX files + measure.py)",
    )
    k.add_argument("--space", default="mobilenet", help="search space (only mobilenet has blocks)")
    k.add_argument("--preset", default="fmnist-small", help="macro structure of the space")
    k.add_argument("--batch", type=int, default=1)
    k.add_argument("--networks", type=int, default=30, help="random whole validation networks")
    k.add_argument("--seed", type=int, default=0, help="seed of the validation networks")
    k.add_argument("--out", required=True, help="the kit's folder (new or empty)")
    k.add_argument("--force", action="store_true", help="replace a non-empty --out")
    k.add_argument("--debug", action="store_true")
    k.set_defaults(func=run_kit)

    e = sub.add_parser("export", help="write a stored table to JSON")
    _common(e)
    e.add_argument("--table-id", default=None, help="export this stored table")
    e.add_argument("--force", action="store_true", help="export a table of another fingerprint")
    e.add_argument("--out", required=True, help="JSON file to write")
    e.set_defaults(func=run_export)

    i = sub.add_parser(
        "import",
        help="store a device's table: a kit's measurements (measure.py) or a `lut export` JSON",
    )
    i.add_argument("file", help="table.json written by a kit's measure.py, or by `lut export`")
    i.add_argument(
        "--name",
        default=None,
        help="the device's name: budgets on it read latency_NAME_ms (needed for a kit's table)",
    )
    i.add_argument(
        "--preset", default=None, help="refuse a kit made for another space preset than this"
    )
    i.add_argument("--store", default=DEFAULT_STORE)
    i.add_argument("--json", default=None, help="also write the verdict (and records) here")
    i.add_argument("--debug", action="store_true")
    i.set_defaults(func=run_import)

    ls = sub.add_parser(
        "list", help="list the tables and devices of a store and where energy comes from"
    )
    ls.add_argument("--store", default=DEFAULT_STORE)
    ls.add_argument("--debug", action="store_true")
    ls.set_defaults(func=run_list)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_build(args) -> int:
    from budgetnas.costs.measure import build_summary, build_table
    from budgetnas.costs.validate import table_space
    from budgetnas.store import Store

    space = table_space(args.space, args.preset)
    if args.metric == "energy_mj":
        from budgetnas.costs.energy import energy_source

        _say(f"energy: {energy_source()}")
    start = time.perf_counter()
    table = build_table(
        space,
        Store(args.store),
        args.backend,
        args.threads,
        args.batch,
        args.repeats,
        args.warmup,
        force=args.force,
        progress=_say,
        clock=args.clock,
        metric=args.metric,
    )
    summary = build_summary(table, args.store, time.perf_counter() - start)
    print(json.dumps(summary, indent=1))
    return 0


def run_kit(args) -> int:
    from budgetnas.costs.kit import build_kit
    from budgetnas.costs.validate import table_space

    space = table_space(args.space, args.preset)
    start = time.perf_counter()
    out = build_kit(
        space, args.out, args.batch, args.networks, args.seed, args.force, progress=_say
    )
    print(
        f"wrote kit {out} for {space.name}/{space.config.name}, batch {args.batch}, in "
        f"{time.perf_counter() - start:.1f} s; copy it to the device and run there\n"
        f"  pip install numpy onnxruntime\n"
        f"  python measure.py --threads 1 --out table.json\n"
        f"then here: budgetnas lut import table.json --name NAME"
    )
    return 0


def run_validate(args) -> int:
    from budgetnas.config import overrides_from_args, resolve
    from budgetnas.costs.validate import ValidateConfig, run_validation

    cfg = resolve(ValidateConfig, overrides_from_args(args, ValidateConfig))
    print(run_validation(cfg, progress=_say).summary())
    return 0


def run_export(args) -> int:
    from budgetnas.costs.table import load_table
    from budgetnas.costs.validate import table_space
    from budgetnas.store import Store

    space = table_space(args.space, args.preset)
    table = load_table(
        Store(args.store),
        space,
        args.backend,
        args.threads,
        args.batch,
        args.metric,
        args.force,
        args.table_id,
        args.clock,
    )
    path = table.to_json(args.out)
    print(f"wrote table {table.id} ({len(table.entries)} entries, {table.metric}) to {path}")
    return 0


def run_import(args) -> int:
    from budgetnas.costs import device_tables as dt
    from budgetnas.costs.table import CostTable, import_table
    from budgetnas.store import Store

    store = Store(args.store)
    if args.name is not None:
        dt.check_name(args.name)
        if store.get(dt.DEVICE_KIND, args.name) is not None:
            _say(f"device {args.name!r} is already in {args.store}: replacing its table")
    if _is_kit_measurement(args.file):
        if args.name is None:
            raise ValueError(
                "a kit's measurements describe a device: name it with --name NAME (its budgets "
                "then read latency_NAME_ms)"
            )
        record = dt.import_measurements(args.file, args.name, store, preset=args.preset)
    else:
        table = CostTable.from_json(args.file)
        if args.preset is not None and table.fingerprint.get("preset") != args.preset:
            raise ValueError(
                f"{args.file} was measured for preset {table.fingerprint.get('preset')!r}, not "
                f"{args.preset!r}"
            )
        if args.name is None:
            table = import_table(store, args.file)
            fp = table.fingerprint
            print(
                f"imported {table.metric} table {table.id} measured on {fp.get('cpu')!r} "
                f"({fp.get('backend')}, {fp.get('threads')} threads, batch {fp.get('batch')}); "
                f"search with it via --table-id {table.id}, or import it again with --name NAME "
                "to budget it as latency_NAME_ms"
            )
            return 0
        table.source = "imported"
        record = dt.import_table_as_device(table, args.name, store)
    print(
        f"device {record.name}: table {record.table} of {record.kit.get('space')}/"
        f"{record.kit.get('preset')} measured on {record.where}; budget it as "
        f"'{dt.device_metric(record.name)}<=LIMIT'"
    )
    print(f"verdict: {record.accuracy_text()}")
    v = record.verdict
    if v and v["within_10pct"] < 0.9:
        print(
            f"warning: the table misses {100 * (1 - v['within_10pct']):.0f}% of the device's "
            "networks by more than 10%; budgets on this device are predictions: check the found "
            "network with its verification kit (`budgetnas verify`)"
        )
    if args.json:
        from budgetnas.files import write_text_atomic

        write_text_atomic(args.json, json.dumps(record.to_json(), indent=1))
    return 0


def _is_kit_measurement(path: str) -> bool:
    """Whether ``path`` holds a kit's measurements (else it is read as a table)."""
    from budgetnas.costs.device_tables import MEASUREMENTS_KIND
    from budgetnas.files import read_json

    data = read_json(path)
    return isinstance(data, dict) and data.get("kind") == MEASUREMENTS_KIND


def run_list(args) -> int:
    from budgetnas.costs.device_tables import device_lines
    from budgetnas.costs.energy import energy_source
    from budgetnas.costs.table import table_lines
    from budgetnas.store import Store

    store = Store(args.store)
    for line in table_lines(store):
        print(line)
    devices = device_lines(store)
    if devices:
        print("devices (budget each as latency_NAME_ms):")
        for line in devices:
            print(f"  {line}")
    print(f"energy here: {energy_source()}")
    return 0
