"""``budgetnas train``: one-shot training of the MobileNetV3 supernet (stage A, then stage B)."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["config_from_args", "register", "run"]


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command
    from budgetnas.training.config import TrainConfig

    add_command(
        subparsers,
        "train",
        help="train the MobileNetV3 supernet one-shot (heaviest path, then random paths)",
        description="Writes OUT/supernet.pt (checkpoint after every epoch), OUT/config.json and "
        "OUT/config.toml (resolved settings) and OUT/log.jsonl (loss and accuracy per epoch). "
        "Settings come from --config FILE.toml (a run's config.toml: its [train] table), then "
        "the flags.",
        func=run,
        config=TrainConfig,
        flags=_flags,
    )


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="epochs of each stage (A and B)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the training in OUT (its saved settings are the base; a flag may not "
        "change them)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start over in an OUT that holds a training (its files move to OUT/previous-N/)",
    )
    p.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace):
    """The training configuration of the command line: defaults (with ``--resume``, the settings
    saved in OUT), ``--config``, ``--epochs`` (both stages; stage B only with ``--stage-a-from``),
    then the other flags; a resumed training refuses a changed setting."""
    from budgetnas.config import load_toml, overrides_from_args, resolve
    from budgetnas.training.config import TrainConfig
    from budgetnas.training.resume import resume_settings, saved_settings

    resume = getattr(args, "resume", False)
    saved = (saved_settings(args.out) or {}) if resume else {}
    file = load_toml(args.config) if args.config else {}
    file = file.get("train", file)  # a run's config.toml holds the training as a table
    given = overrides_from_args(args, TrainConfig)
    epochs = {} if args.epochs is None else {"epochs_a": args.epochs, "epochs_b": args.epochs}
    merged = {**saved, **file, **epochs, **given}
    if merged.get("stage_a_from") is not None:  # --epochs sets stage B only
        merged["epochs_a"] = given.get("epochs_a", 0)  # TrainConfig refuses a stage A beside it
    if resume:
        merged = resume_settings(args.out, merged)
    cfg = resolve(TrainConfig, merged)
    if cfg.epochs_a < 0 or cfg.epochs_b < 0:
        raise ValueError("epochs must be >= 0")
    if cfg.epochs_a + cfg.epochs_b == 0:
        raise ValueError("nothing to train: both stages have 0 epochs")
    return cfg


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from budgetnas.config import to_toml
    from budgetnas.training.supernet import SupernetTrainer

    cfg = config_from_args(args)
    trainer = SupernetTrainer(cfg, args.out, progress=not args.no_progress)
    result = trainer.run(resume=args.resume, fresh=args.fresh)
    if trainer.world.main:  # under torchrun, rank 0 alone writes and reports
        (Path(args.out) / "config.toml").write_text(to_toml(cfg))
        print(json.dumps(result), file=sys.stdout)
    return 0
