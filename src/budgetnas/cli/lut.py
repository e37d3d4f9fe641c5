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
from pathlib import Path

DEFAULT_STORE = "runs/lut/lut.sqlite"


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
    _common(v, metric=False)
    v.add_argument("--samples", type=int, default=100)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--repeats", type=int, default=30)
    v.add_argument("--warmup", type=int, default=5)
    v.add_argument(
        "--stat",
        default="median",
        choices=("median", "min"),
        help="statistic of the repeats compared (tables keep both)",
    )
    v.add_argument("--json", dest="json_out", default="runs/lut/validate.json")
    v.add_argument("--plot", default=None, help="scatter PNG (default: beside --json)")
    v.add_argument(
        "--fit-correction",
        action="store_true",
        help="store the fitted (slope, intercept) beside the table",
    )
    v.add_argument("--corrected", action="store_true", help="apply the stored correction")
    v.add_argument(
        "--paired",
        action="store_true",
        help="also re-measure the blocks interleaved with the networks (error of summing "
        "blocks, free of machine drift since the build)",
    )
    v.add_argument("--table-id", default=None, help="validate this stored table")
    v.add_argument("--force", action="store_true", help="use a table of another fingerprint")
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


def _space(args):
    if args.space != "mobilenet":
        raise ValueError(
            f"lookup tables need block descriptors; space {args.space!r} has none "
            "(use --space mobilenet)"
        )
    from budgetnas.spaces.mobilenet import MobileNetSpace

    return MobileNetSpace(preset=args.preset)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_build(args) -> int:
    from budgetnas.costs.lut import build_table
    from budgetnas.store import Store

    space = _space(args)
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
    wall = time.perf_counter() - start
    unit = "mJ" if args.metric == "energy_mj" else "ms"
    rel = sorted(m.rel_iqr for m in table.entries.values())
    print(
        json.dumps(
            {
                "table": table.id,
                "store": args.store,
                "entries": len(table.entries),
                f"t0_{unit}": table.t0,
                "build_s": round(wall, 2),
                "source": table.source,
                "median_rel_iqr_pct": round(100 * rel[len(rel) // 2], 2),
                "fingerprint": table.fingerprint,
            },
            indent=1,
        )
    )
    return 0


def _load(args, metric: str = "latency_ms"):
    from budgetnas.costs.lut import load_table
    from budgetnas.store import Store

    space = _space(args)
    store = Store(args.store)
    table = load_table(
        store,
        space,
        args.backend,
        args.threads,
        args.batch,
        metric,
        args.force,
        args.table_id,
        args.clock,
    )
    return space, store, table


def run_validate(args) -> int:
    from budgetnas.bench.lut import plot_scatter, validate_table, write_json
    from budgetnas.costs.lut import build_table, check_fingerprint, current_fingerprint
    from budgetnas.store import Store

    space = _space(args)
    try:
        space, store, table = _load(args)
    except FileNotFoundError:
        _say("no table for this fingerprint yet: building it first")
        store = Store(args.store)
        table = build_table(
            space,
            store,
            args.backend,
            args.threads,
            args.batch,
            args.repeats,
            args.warmup,
            progress=_say,
            clock=args.clock,
        )
    # whole networks are measured here: the table must describe this machine
    want = current_fingerprint(
        space,
        table.fingerprint["backend"],
        table.fingerprint["threads"],
        table.fingerprint["batch"],
        clock=table.fingerprint["clock"],
    )
    check_fingerprint(table, want, force=args.force)
    table = table.with_stat(args.stat)
    summary, records = validate_table(
        space,
        table,
        args.samples,
        args.seed,
        args.repeats,
        args.warmup,
        store,
        args.corrected,
        progress=_say,
        paired=args.paired,
    )
    if args.fit_correction and "fit" in summary:
        fit = summary["fit"]
        table.set_correction(
            fit["slope"], fit["intercept"], store, samples=summary["samples"], seed=args.seed
        )
        _say(f"stored correction slope={fit['slope']:.4f} intercept={fit['intercept']:.4f} ms")
    out = write_json(summary, records, args.json_out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    plot_scatter(records, summary, plot)
    keys = ("samples", "within_5pct", "within_10pct", "max_abs_error_pct", "bias_pct")
    shown = {k: summary[k] for k in keys} | {"json": str(out), "plot": str(plot)}
    if "paired" in summary:
        shown["paired"] = {k: summary["paired"][k] for k in keys}
    print(json.dumps(shown, indent=1))
    return 0


def run_export(args) -> int:
    _, _, table = _load(args, args.metric)
    path = table.to_json(args.out)
    print(f"wrote table {table.id} ({len(table.entries)} entries, {table.metric}) to {path}")
    return 0


def run_import(args) -> int:
    from budgetnas.costs.lut import import_table
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
    from budgetnas.costs.lut import TABLE_KIND
    from budgetnas.store import Store

    store = Store(args.store)
    for tid, head in store.items(TABLE_KIND):
        fp = head["fingerprint"]
        print(
            f"{tid}  {fp.get('metric')}  {fp.get('space')}/{fp.get('preset')}  {fp.get('backend')} "
            f"threads={fp.get('threads')} batch={fp.get('batch')} clock={fp.get('clock')} "
            f"cpu={fp.get('cpu')!r} source={head.get('source')}"
        )
    print(f"energy here: {energy_source()}")
    return 0
