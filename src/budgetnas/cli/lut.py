"""``budgetnas lut build|validate|export|import|list``: latency (and energy) lookup tables.

Example:
    budgetnas lut build --space mobilenet --preset fmnist-small --backend torch-cpu --threads 1 --batch 1
    budgetnas lut validate --space mobilenet --preset fmnist-small --backend torch-cpu \\
        --threads 1 --batch 1 --samples 30 --json runs/lut/validate.json
"""

from __future__ import annotations

import json
import sys
import time

from budgetnas.costs.validate import DEFAULT_STORE

__all__ = ["register", "run_build", "run_export", "run_import", "run_list", "run_validate"]


def _common(p, metric: bool = True) -> None:
    p.add_argument("--space", default="mobilenet", help="search space (only mobilenet has blocks)")
    p.add_argument("--preset", default="fmnist-small", help="macro structure of the space")
    p.add_argument("--backend", default="torch-cpu", choices=("torch-cpu", "onnxruntime"))
    p.add_argument("--threads", type=int, default=1, help="intra-op threads")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument(
        "--clock",
        default="auto",
        choices=("auto", "wall", "thread"),
        help="auto: the thread's CPU time with 1 thread (robust on a shared CPU), "
        "wall-clock time otherwise",
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

    e = sub.add_parser("export", help="write a stored table to JSON")
    _common(e)
    e.add_argument("--table-id", default=None, help="export this stored table")
    e.add_argument("--force", action="store_true", help="export a table of another fingerprint")
    e.add_argument("--out", required=True, help="JSON file to write")
    e.set_defaults(func=run_export)

    i = sub.add_parser("import", help="store a JSON table (e.g. measured on the target device)")
    i.add_argument("file", help="JSON table written by `budgetnas lut export`")
    i.add_argument("--store", default=DEFAULT_STORE)
    i.add_argument("--debug", action="store_true")
    i.set_defaults(func=run_import)

    ls = sub.add_parser("list", help="list the tables of a store and where energy comes from")
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
    from budgetnas.costs.table import import_table
    from budgetnas.store import Store

    table = import_table(Store(args.store), args.file)
    fp = table.fingerprint
    print(
        f"imported {table.metric} table {table.id} measured on {fp.get('cpu')!r} "
        f"({fp.get('backend')}, {fp.get('threads')} threads, batch {fp.get('batch')}); "
        f"search with it via --table-id {table.id}"
    )
    return 0


def run_list(args) -> int:
    from budgetnas.costs.energy import energy_source
    from budgetnas.costs.table import table_lines
    from budgetnas.store import Store

    for line in table_lines(Store(args.store)):
        print(line)
    print(f"energy here: {energy_source()}")
    return 0
