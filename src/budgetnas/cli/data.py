"""``budgetnas data info DATA``: what budgetnas makes of a dataset (shape, classes, splits,
normalization, the space preset chosen for it), before anything trains.

The work is :func:`budgetnas.data.describe.describe`."""

from __future__ import annotations

import argparse
import json

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command

    p = subparsers.add_parser("data", help="inspect a dataset before training on it")
    sub = p.add_subparsers(dest="data_command", required=True)
    add_command(
        sub,
        "info",
        help="shape, classes, splits, normalization and the space preset of a dataset",
        description="Opens DATA as a run would (an image folder is decoded into its cache the "
        "first time) and prints its shape, class names, split sizes and how the splits were "
        "made, the normalization, the space preset --space-preset auto chooses, and for a "
        "folder the cache and the files skipped.",
        func=run,
        flags=_flags,
    )


def _flags(p: argparse.ArgumentParser) -> None:
    from budgetnas.data import DATA_HELP

    p.add_argument("data", help=DATA_HELP)
    p.add_argument("--image-size", type=int, default=None, help="folder data: image side")
    p.add_argument(
        "--strict", action="store_true", help="folder data: an undecodable file is an error"
    )
    p.add_argument("--json", action="store_true", help="print a JSON record instead of text")


def run(args: argparse.Namespace) -> int:
    from budgetnas.data import data_options
    from budgetnas.data.describe import describe, describe_text

    rec = describe(args.data, **data_options(args))
    print(json.dumps(rec, indent=2, ensure_ascii=False) if args.json else describe_text(rec))
    return 0
