"""``budgetnas train-baseline``: train a benchmark network (to prune later) and save a checkpoint.

The flags are the fields of :class:`budgetnas.models.baseline.BaselineTrainConfig`; ``--config
FILE.toml`` reads them from a file (flags given override it). The work is
:func:`budgetnas.models.baseline.train_baseline`.
"""

from __future__ import annotations

import argparse

from budgetnas.config import add_arguments, load_toml, overrides_from_args, resolve
from budgetnas.models.baseline import STATE, STATE_FORMAT, BaselineTrainConfig

__all__ = ["STATE", "STATE_FORMAT", "register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-baseline",
        help="train a ResNet-20 / MobileNetV2-style baseline and save a checkpoint",
        description="Train a network from budgetnas.models with cross-entropy and write "
        "DIR/<model>_<data>.pt (model name + constructor kwargs + weights), DIR/baseline.json and "
        "DIR/config.toml; DIR/train_state.pt after every epoch, from which --resume continues "
        "exactly.",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="settings from a TOML file (the flags given override it); DIR/config.toml repeats "
        "an earlier run",
    )
    add_arguments(p, BaselineTrainConfig)
    p.add_argument(
        "--resume", action="store_true", help="continue from DIR/train_state.pt (same settings)"
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetnas.models.baseline import train_baseline

    from_file = load_toml(args.config) if args.config else None
    cfg = resolve(BaselineTrainConfig, from_file, overrides_from_args(args, BaselineTrainConfig))
    result = train_baseline(cfg, resume=args.resume, log=lambda s: print(s, flush=True))
    print(result.summary())
    return 0
