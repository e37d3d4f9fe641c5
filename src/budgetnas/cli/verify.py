"""``budgetnas verify RUN --measurements FILE``: fold a device's measurement of the found network
into a run; the work is :func:`budgetnas.pipeline.verify.verify_run`."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command

    add_command(
        subparsers,
        "verify",
        help="fold a device's measurement of a run's network into the run",
        description="Reads what a run's verification kit (RUN/verify/NAME, its measure.py run on "
        "device NAME) measured, records it and runs the pipeline again on RUN: a measurement "
        "that holds the budget makes the budget measured; one that breaks it tightens the budget "
        "by the observed ratio and searches again (a new kit is written for the new network).",
        func=run,
        flags=_flags,
    )


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN", help="the run directory (`budgetnas run --out RUN`)")
    p.add_argument(
        "--measurements", required=True, help="the JSON the kit's measure.py wrote on the device"
    )


def run(args: argparse.Namespace) -> int:
    from budgetnas.pipeline.verify import verify_run

    outcome = verify_run(
        args.run_dir, args.measurements, log=lambda m: print(m, file=sys.stderr, flush=True)
    )
    print(outcome.summary())
    return 0 if outcome.result.ok else 1
