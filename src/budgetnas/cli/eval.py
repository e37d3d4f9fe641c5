"""``budgetnas eval``: one-shot accuracy of one path of a trained supernet (after BN recalibration).

The work is :meth:`budgetnas.training.trained.TrainedSupernet.score`."""

from __future__ import annotations

import argparse
import json

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command

    add_command(
        subparsers,
        "eval",
        help="one-shot accuracy of an architecture on the held-out split",
        description="Loads a supernet checkpoint, activates ARCH, re-estimates BatchNorm "
        "statistics on training images and prints the accuracy on the held-out split "
        "(a fixed part of the training set; use --split test only for final reporting).",
        func=run,
        flags=_flags,
    )


def _flags(p: argparse.ArgumentParser) -> None:
    from budgetnas.cli.command import add_supernet_argument
    from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS

    add_supernet_argument(p)
    p.add_argument(
        "--arch",
        required=True,
        help="architecture string (e.g. e6k5se-e3k3|...), or 'heaviest' / 'smallest'",
    )
    p.add_argument("--split", default="heldout", choices=["heldout", "test", "search-train"])
    p.add_argument("--data-dir", default=None, help="dataset folder (default: as trained)")
    p.add_argument("--subset", type=int, default=None, help="evaluate on N images of the split")
    p.add_argument("--bn-batches", type=int, default=None, help="recalibration batches")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--json", action="store_true", help="print a JSON record instead of text")


def run(args: argparse.Namespace) -> int:
    from budgetnas.training.speed import use_threads
    from budgetnas.training.trained import TrainedSupernet

    use_threads(args.threads)
    trained = TrainedSupernet.open(
        args.supernet,
        data_dir=args.data_dir,
        bn_batches=args.bn_batches,
        finished=False,
        device=args.device,
        precision=args.precision,
    )
    rec = trained.score(args.arch, args.split, args.subset)
    if args.json:
        print(json.dumps(rec))
    else:
        print(
            f"{rec['arch']}  {rec['split']} accuracy {100 * rec['accuracy']:.2f}% "
            f"({rec['images']} images, {rec['params']:,} params, {rec['macs'] / 1e6:.2f}M MACs; "
            f"{rec['device']} {rec['precision']})"
        )
    return 0
