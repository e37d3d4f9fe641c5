"""``budgetnas train-baseline``: train a benchmark network (to prune later) and save a checkpoint.

The flags are the fields of :class:`budgetnas.models.baseline.BaselineTrainConfig`; ``--config
FILE.toml`` reads them from a file (flags given override it). The work is
:func:`budgetnas.models.baseline.train_baseline`.
"""

from __future__ import annotations

import argparse

from budgetnas.cli.command import add_command
from budgetnas.config import config_from_args
from budgetnas.models.baseline import STATE, STATE_FORMAT, BaselineTrainConfig

__all__ = ["STATE", "STATE_FORMAT", "register", "run"]


def register(subparsers) -> None:
    add_command(
        subparsers,
        "train-baseline",
        help="train a ResNet-20 / MobileNetV2-style baseline and save a checkpoint",
        description="Train a network from budgetnas.models with cross-entropy and write "
        "DIR/<model>_<data>.pt (model name + constructor kwargs + weights), DIR/baseline.json and "
        "DIR/config.toml; DIR/train_state.pt after every epoch, from which --resume continues "
        "exactly.",
        func=run,
        config=BaselineTrainConfig,
        flags=lambda p: p.add_argument(
            "--resume", action="store_true", help="continue from DIR/train_state.pt (same settings)"
        ),
    )


def run(args: argparse.Namespace) -> int:
    from budgetnas.distributed import World
    from budgetnas.models.baseline import train_baseline

    cfg = config_from_args(BaselineTrainConfig, args)
    result = train_baseline(cfg, resume=args.resume, log=lambda s: print(s, flush=True))
    if World.from_env().main:  # under torchrun, rank 0 alone reports
        print(result.summary())
    return 0
