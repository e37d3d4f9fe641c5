"""``budgetnas run``: supernet, predictor, search under hard budgets, closed loop, fine-tuning and
export in one resumable run directory (see :mod:`budgetnas.pipeline.run`)."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["FLAGS", "config_from_args", "register", "run"]

#: the run's flags whose names differ from their settings' (kept from earlier releases)
FLAGS = {
    "preset": "space-preset",
    "heldout": "predictor-subset",
    "batch": "predictor-batch",
    "sampling": "predictor-sampling",
    "form": "predictor-form",
    "subnets": "oneshot-subnets",
    "subnet_heldout": "oneshot-heldout",
    "epochs": "finetune-epochs",
    "images": "finetune-subset",
    "lr": "finetune-lr",
    "passes": "predictor-passes",
    "center": "predictor-center",
}


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command
    from budgetnas.pipeline.config import RunConfig

    add_command(
        subparsers,
        "run",
        help="the whole pipeline: train/reuse a supernet, fit the predictor, search, fine-tune, export",
        description="Leaves result.json, arch.txt, model.pt (TorchScript), model.onnx and "
        "config.toml (the resolved settings) under OUT. Every stage is reused from OUT when it is "
        "already there, so an interrupted run resumes. Settings come from the preset, then "
        "--config FILE.toml, then the flags.",
        func=run,
        config=RunConfig,
        flags=_flags,
        rename=FLAGS,
        skip=("ridge_subnets",),
    )


def _flags(p: argparse.ArgumentParser) -> None:
    from budgetnas.pipeline.config import PRESETS

    p.add_argument("--out", required=True, help="run directory")
    p.add_argument(
        "--preset",
        dest="run_preset",
        default=None,
        help=f"run preset: {', '.join(PRESETS)} (default: quick)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run into OUT even though it is a non-empty folder that is not a run directory",
    )


def config_from_args(args: argparse.Namespace):
    """``(configuration, preset)`` of the command line: the preset (``--preset``, else the
    file's ``run_preset``, else quick), then ``--config``, then the flags given."""
    from budgetnas.config import load_toml, overrides_from_args
    from budgetnas.pipeline.config import RunConfig

    file = load_toml(args.config) if args.config else {}
    preset = args.run_preset or file.get("run_preset") or "quick"
    file.pop("run_preset", None)
    cfg = RunConfig.from_preset(preset, file, overrides_from_args(args, RunConfig))
    if not cfg.budgets:
        raise ValueError("give at least one --budget (or budgets in --config)")
    return cfg, preset


def run(args: argparse.Namespace) -> int:
    from budgetnas.pipeline.run import run_pipeline

    cfg, preset = config_from_args(args)
    done = run_pipeline(cfg, args.out, preset=preset, force=args.force)
    if done is None:  # a rank other than 0 under torchrun: it trained the supernet, rank 0 reports
        return 0
    result = done.to_json()
    keys = ("arch", "budgets", "oneshot_heldout_acc", "finetuned_heldout_acc", "test_acc")
    print(json.dumps({k: result[k] for k in keys}, default=float), file=sys.stdout)
    return 0
