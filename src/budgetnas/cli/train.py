"""``budgetnas train``: one-shot training of the MobileNetV3 supernet (stage A, then stage B)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields


def register(subparsers) -> None:
    from budgetnas.training.config import TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train the MobileNetV3 supernet one-shot (heaviest path, then random paths)",
        description="Writes OUT/supernet.pt (checkpoint after every epoch), OUT/config.json "
        "(resolved settings) and OUT/log.jsonl (loss and accuracy per epoch).",
    )
    p.add_argument("--data", default=d.data, help="fashion-mnist, cifar10 or synthetic")
    p.add_argument("--preset", default=d.preset, help="fmnist-small, cifar-small, tiny, imagenet")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $BUDGETNAS_DATA)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of each stage (A and B)")
    p.add_argument("--epochs-a", type=int, default=None, help=f"stage-A epochs ({d.epochs_a})")
    p.add_argument("--epochs-b", type=int, default=None, help=f"stage-B epochs ({d.epochs_b})")
    p.add_argument("--subset", type=int, default=None, help="use N training images")
    p.add_argument("--subset-b", type=int, default=None, help="training images per B epoch")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr-a", type=float, default=d.lr_a)
    p.add_argument("--lr-b", type=float, default=d.lr_b)
    p.add_argument("--gamma", type=float, default=d.gamma, help="inner distillation weight")
    p.add_argument("--no-sandwich", action="store_true", help="one random path per step")
    p.add_argument("--n-random", type=int, default=d.n_random)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--bn-batches", type=int, default=d.bn_batches)
    p.add_argument("--eval-subset", type=int, default=None, help="held-out images per evaluation")
    p.add_argument(
        "--eval-random",
        type=int,
        default=d.eval_random,
        help="random paths scored after every stage-B epoch (0: none)",
    )
    p.add_argument(
        "--no-inherit",
        action="store_true",
        help="start stage B's 3x3 kernels and (e, SE) BatchNorms from their random "
        "initialisation instead of the heaviest path's trained weights",
    )
    p.add_argument(
        "--stage-a-from",
        default=None,
        metavar="CKPT",
        help="take stage A (the trained heaviest path) from another run's supernet.pt and "
        "train stage B only",
    )
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per epoch")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    p.add_argument("--num-workers", type=int, default=d.num_workers)
    p.add_argument("--device", default=d.device)
    p.add_argument("--resume", action="store_true", help="continue from OUT/supernet.pt")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from budgetnas.training.config import TrainConfig

    d = TrainConfig()
    epochs_a = args.epochs_a if args.epochs_a is not None else args.epochs
    epochs_b = args.epochs_b if args.epochs_b is not None else args.epochs
    if args.stage_a_from is not None:
        epochs_a = args.epochs_a or 0  # --epochs sets stage B only; TrainConfig refuses --epochs-a
        if epochs_b is None:
            epochs_b = d.epochs_b
    values = {
        "data": args.data,
        "preset": args.preset,
        "data_dir": args.data_dir,
        "subset": args.subset,
        "subset_b": args.subset_b,
        "epochs_a": d.epochs_a if epochs_a is None else epochs_a,
        "epochs_b": d.epochs_b if epochs_b is None else epochs_b,
        "batch_size": args.batch_size,
        "lr_a": args.lr_a,
        "lr_b": args.lr_b,
        "gamma": args.gamma,
        "sandwich": not args.no_sandwich,
        "n_random": args.n_random,
        "augment": not args.no_augment,
        "bn_batches": args.bn_batches,
        "eval_subset": args.eval_subset,
        "eval_random": args.eval_random,
        "inherit": not args.no_inherit,
        "stage_a_from": args.stage_a_from,
        "max_steps": args.max_steps,
        "seed": args.seed,
        "threads": args.threads,
        "num_workers": args.num_workers,
        "device": args.device,
    }
    names = {f.name for f in fields(TrainConfig)}
    assert set(values) <= names
    if values["epochs_a"] < 0 or values["epochs_b"] < 0:
        raise ValueError("epochs must be >= 0")
    if values["epochs_a"] + values["epochs_b"] == 0:
        raise ValueError("nothing to train: both stages have 0 epochs")
    return TrainConfig(**values)


def run(args: argparse.Namespace) -> int:
    from budgetnas.training.supernet import SupernetTrainer

    cfg = config_from_args(args)
    trainer = SupernetTrainer(cfg, args.out, progress=not args.no_progress)
    result = trainer.run(resume=args.resume)
    print(json.dumps(result), file=sys.stdout)
    return 0
