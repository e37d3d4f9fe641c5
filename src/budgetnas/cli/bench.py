"""``budgetnas bench ...``: reproducible benchmarks (tabular NAS-Bench-201 search, MILP timing,
pruning, supernet, baselines of a run directory)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _default_table() -> str | None:
    root = os.environ.get("BUDGETNAS_DATA")
    if root and (Path(root) / "nb201" / "nb201_cifar10.csv").is_file():
        return str(Path(root) / "nb201" / "nb201_cifar10.csv")
    return None


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="run a reproducible benchmark")
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)

    nb = sub.add_parser("nb201", help="score search methods exactly on a tabular benchmark")
    nb.add_argument(
        "--table",
        default=_default_table(),
        help="CSV with arch_str and numeric columns (default: $BUDGETNAS_DATA/nb201/nb201_cifar10.csv)",
    )
    nb.add_argument(
        "--objective", default="valid_acc", help="column to maximize (one read = one query)"
    )
    nb.add_argument("--report", default="test_acc", help="column reported for the found cell")
    nb.add_argument(
        "--cost",
        action="append",
        type=_names,
        default=None,
        help="cost column(s) for the budget; repeat or comma-separate (default lat_pixel3_ms)",
    )
    nb.add_argument(
        "--budget-quantiles",
        type=_floats,
        default=[0.1, 0.25, 0.5],
        help="budgets as quantiles of each cost column",
    )
    nb.add_argument("--solvers", type=_names, default=["iqnas", "evolution", "optuna", "random"])
    nb.add_argument("--queries", type=int, default=100)
    nb.add_argument("--seeds", type=int, default=10)
    nb.add_argument("--json", dest="json_out", default="runs/bench/nb201.json")
    nb.add_argument("--plot", default=None, help="PNG path (default: beside --json)")
    nb.add_argument(
        "--store", default=None, help="SQLite store for resuming (default: beside --json)"
    )
    nb.add_argument("--fresh", action="store_true", help="ignore stored records and run everything")
    nb.add_argument("--no-progress", action="store_true")
    nb.set_defaults(func=run_nb201_cmd)

    ml = sub.add_parser("milp", help="time the exact MILP on the NAS-Bench-201 problem")
    ml.add_argument("--table", default=_default_table())
    ml.add_argument("--objective", default="valid_acc")
    ml.add_argument(
        "--cost",
        type=_names,
        default=["lat_fpga_ms", "lat_eyeriss_ms", "lat_pixel3_ms", "lat_raspi4_ms"],
    )
    ml.add_argument("--budget-quantiles", type=_floats, default=[0.1, 0.25, 0.5])
    ml.add_argument("--repeats", type=int, default=20)
    ml.add_argument("--json", dest="json_out", default=None)
    ml.set_defaults(func=run_milp_cmd)

    pr = sub.add_parser(
        "pruning",
        add_help=False,
        help="knapsack pruning vs torch-pruning's magnitude pruner (see docs/bench/pruning.md)",
    )
    pr.add_argument(
        "args", nargs=argparse.REMAINDER, help="options of budgetnas.bench.pruning (--help)"
    )
    pr.set_defaults(func=run_pruning_cmd, passthrough=True)

    sn = sub.add_parser(
        "supernet",
        add_help=False,
        help="supernet overhead and one-shot ranking (see docs/bench/supernet.md)",
    )
    sn.add_argument("args", nargs=argparse.REMAINDER, help="overhead|ranking and their options")
    sn.set_defaults(func=run_supernet_cmd, passthrough=True)

    bl = sub.add_parser(
        "baselines",
        add_help=False,
        help="found networks vs uniform scaling vs best of random, fine-tuned alike",
    )
    bl.add_argument(
        "args", nargs=argparse.REMAINDER, help="--run DIR --budgets METRIC=V1,V2,... (--help)"
    )
    bl.set_defaults(func=run_baselines_cmd, passthrough=True)


def run_baselines_cmd(args) -> int:
    from budgetnas.bench.baselines import main as baselines_main

    return int(baselines_main(args.args) or 0)


def run_supernet_cmd(args) -> int:
    from budgetnas.bench.supernet import main as supernet_main

    return int(supernet_main(args.args) or 0)


def run_pruning_cmd(args) -> int:
    from budgetnas.bench.pruning import main as pruning_main

    return int(pruning_main(args.args) or 0)


def _need_table(args) -> str:
    if not args.table:
        raise FileNotFoundError(
            "no table given: pass --table PATH or set BUDGETNAS_DATA to the folder holding "
            "nb201/nb201_cifar10.csv"
        )
    return args.table


def run_nb201_cmd(args) -> int:
    from budgetnas.bench.nb201 import (
        NB201BenchConfig,
        format_table,
        plot,
        run_nb201,
        summarize,
        write_json,
    )
    from budgetnas.store import Store

    costs = [c for group in (args.cost or [["lat_pixel3_ms"]]) for c in group]
    cfg = NB201BenchConfig(
        table=_need_table(args),
        objective=args.objective,
        report=args.report,
        costs=costs,
        quantiles=args.budget_quantiles,
        solvers=args.solvers,
        queries=args.queries,
        seeds=args.seeds,
    )
    out = Path(args.json_out)
    store_path = Path(args.store) if args.store else out.with_suffix(".sqlite")
    with Store(store_path) as store:
        if args.fresh:
            store.delete("bench-nb201")
        records = run_nb201(cfg, store=store, progress=not args.no_progress)
    rows = summarize(records)
    print(format_table(rows))
    write_json(records, cfg, out)
    plot_path = Path(args.plot) if args.plot else out.with_suffix(".png")
    plot(rows, plot_path, cfg.objective)
    infeasible = sum(not r["feasible"] for r in records)
    print(f"\n{len(records)} records, {infeasible} infeasible; wrote {out} and {plot_path}")
    return 1 if infeasible else 0


def run_milp_cmd(args) -> int:
    from budgetnas.bench.milp import run_milp_timing

    rows = run_milp_timing(
        _need_table(args), args.objective, args.cost, args.budget_quantiles, repeats=args.repeats
    )
    print(
        f"{'cost':<16} {'q':>5} {'budget':>8} {'pairs':>5} {'exact':>5} {'median_ms':>9} {'max_ms':>8} {'optimal':>7} {'=enum':>6}"
    )
    for r in rows:
        print(
            f"{r['cost']:<16} {r['quantile']:>5g} {r['budget']:>8.4g} {r['pair_terms']:>5d} "
            f"{r['exact_cost_form']!s:>5} {1e3 * r['median_s']:>9.1f} {1e3 * r['max_s']:>8.1f} "
            f"{100 * r['optimal']:>6.0f}% {100 * r['agrees_with_enumeration']:>5.0f}%"
        )
    import numpy as np

    print(f"median over all budgets: {1e3 * np.median([r['median_s'] for r in rows]):.1f} ms")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps({"rows": rows}, indent=1))
    sys.stdout.flush()
    return 0
