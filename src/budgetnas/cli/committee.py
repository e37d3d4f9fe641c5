"""``budgetnas committee``: ensembles and cascades of a finished run's networks under hard
budgets (:func:`budgetnas.committee.run.build_committee`); ``--sweep`` also chooses them at each
of several limits of the first budget, for the accuracy-vs-latency plot."""

from __future__ import annotations

import argparse

from budgetnas.cli.command import add_command
from budgetnas.committee.config import CommitteeConfig
from budgetnas.config import config_from_args

__all__ = ["register", "run"]


def _flags(p) -> None:
    p.add_argument(
        "--sweep",
        default=None,
        help="also choose committees at each limit of the first budget's metric, as "
        "V1,V2,... (e.g. 0.4,0.6,0.8)",
    )


def register(subparsers) -> None:
    add_command(
        subparsers,
        "committee",
        help="ensembles and cascades of a run's networks under hard budgets",
        description="Candidates from a run's supernet at graded FLOPs (fine-tuned briefly with "
        "the run's recipe) and the user's own networks; ensembles and cascades chosen on the "
        "held-out split under expected-cost and worst-case budgets; exported as TorchScript "
        "(cascade.pt, ensemble.pt), ONNX members and JSON; measured on the test split.",
        func=run,
        config=CommitteeConfig,
        flags=_flags,
    )


def run(args: argparse.Namespace) -> int:
    from budgetnas.committee.run import build_committee

    cfg = config_from_args(CommitteeConfig, args)
    sweep = [float(v) for v in args.sweep.split(",")] if args.sweep else None
    result = build_committee(cfg, sweep=sweep)
    for kind, row in result.chosen.items():
        t = row["test"]
        print(
            f"{kind}: {' > '.join(row['names'])}: test {100 * t['accuracy']:.2f}%, mean "
            f"{t['measured_mean_latency_ms']:.3f} ms measured ({t['mean']['latency_ms']:.3f} "
            f"predicted), worst {t['worst']['latency_ms']:.3f} ms"
        )
    print(f"written: {cfg.out}/committee.json, plots/committees.png", flush=True)
    return 0
