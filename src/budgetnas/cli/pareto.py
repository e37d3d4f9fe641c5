"""``budgetnas pareto``: the best network for each of several budgets, reusing the predictor and
the cost tables of a ``budgetnas run`` directory (one solver call per budget)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command

    add_command(
        subparsers,
        "pareto",
        help="best network per budget from a run directory's predictor (one solver call each)",
        description="Reads RUN/config.toml, RUN/predictor.json and, for latency, the table in "
        "RUN/store.sqlite; writes RUN/pareto.json.",
        func=run,
        flags=_flags,
    )


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="a `budgetnas run` directory")
    p.add_argument("--budgets", required=True, help="METRIC=V1,V2,... e.g. latency_ms=1.0,1.5,2.0")
    p.add_argument("--budget", action="append", default=[], help="a fixed extra budget")
    p.add_argument("--solver", default="milp")


def run(args: argparse.Namespace) -> int:
    from budgetnas.files import write_text_atomic
    from budgetnas.pipeline.pareto import load_run, pareto, parse_sweep

    if args.solver == "hardcore":
        raise ValueError(
            "pareto reuses the predictor; the hardcore solver searches on the supernet itself: "
            "run `budgetnas run --solver hardcore` once per budget instead"
        )
    metric, limits = parse_sweep(args.budgets)
    space, form, cfg = load_run(args.run)
    ctx = {"store": str(Path(args.run) / "store.sqlite"), "threads": cfg.search.lut_threads}
    rows = pareto(space, form, metric, limits, solver=args.solver, fixed=args.budget, **ctx)
    text = json.dumps(rows, indent=2, default=_json)
    write_text_atomic(Path(args.run) / "pareto.json", text)  # a file of the run directory
    for row in rows:
        if "error" in row:
            print(f"{metric}<={row['limit']:g}: infeasible ({row['error']})", file=sys.stdout)
        else:
            print(
                f"{metric}<={row['limit']:g}: predicted acc {row['predicted_accuracy']:.4f} "
                f"{row['arch']} ({row['solver_wall_s'] * 1e3:.0f} ms)",
                file=sys.stdout,
            )
    return 0


def _json(value):
    """Budget rows and numpy numbers in ``pareto.json``."""
    return value.to_json() if hasattr(value, "to_json") else float(value)
