"""``budgetnas eval``: one-shot accuracy of one path of a trained supernet (after BN recalibration)."""

from __future__ import annotations

import argparse
import json

__all__ = ["evaluate_path", "register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="one-shot accuracy of an architecture on the held-out split",
        description="Loads a supernet checkpoint, activates ARCH, re-estimates BatchNorm "
        "statistics on training images and prints the accuracy on the held-out split "
        "(a fixed part of the training set; use --split test only for final reporting).",
    )
    p.add_argument("--supernet", required=True, help="path to supernet.pt written by train")
    p.add_argument(
        "--arch",
        required=True,
        help="architecture string (e.g. e6k5se-e3k3|...), or 'heaviest' / 'smallest'",
    )
    p.add_argument("--split", default="heldout", choices=["heldout", "test", "search-train"])
    p.add_argument("--data-dir", default=None, help="dataset folder (default: as trained)")
    p.add_argument("--subset", type=int, default=None, help="evaluate on N images of the split")
    p.add_argument("--bn-batches", type=int, default=None, help="recalibration batches")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print a JSON record instead of text")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def evaluate_path(
    supernet_path: str,
    arch_text: str,
    split: str = "heldout",
    data_dir: str | None = None,
    subset: int | None = None,
    bn_batches: int | None = None,
) -> dict:
    """Load, recalibrate and score one path; returns a JSON-ready record."""
    from budgetnas.data import make_loader
    from budgetnas.training.evaluate import one_shot_accuracy
    from budgetnas.training.trained import TrainedSupernet

    trained = TrainedSupernet.open(
        supernet_path, data_dir=data_dir, bn_batches=bn_batches, finished=False
    )
    cfg, space = trained.train, trained.space
    if arch_text == "heaviest":
        arch = space.heaviest()
    elif arch_text == "smallest":
        arch = space.smallest()
    else:
        arch = space.from_string(arch_text)
    # loaders, not lists: only the first bn_batches recalibration batches are drawn
    recal = trained.dataset("search-train", cfg.subset)
    evald = trained.dataset(split, subset, seed=0)  # a subset chosen with seed 0, as always
    nb = cfg.bn_batches
    acc = one_shot_accuracy(
        trained.net,
        arch,
        make_loader(recal, cfg.batch_size, shuffle=True, seed=cfg.seed),
        make_loader(evald, cfg.eval_batch_size, shuffle=False),
        nb,
    )
    return {
        "arch": space.to_string(arch),
        "split": split,
        "images": len(evald),
        "accuracy": acc,
        "params": space.count_params(arch),
        "macs": space.count_macs(arch),
        "bn_batches": nb,
    }


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    rec = evaluate_path(
        args.supernet, args.arch, args.split, args.data_dir, args.subset, args.bn_batches
    )
    if args.json:
        print(json.dumps(rec))
    else:
        print(
            f"{rec['arch']}  {rec['split']} accuracy {100 * rec['accuracy']:.2f}% "
            f"({rec['images']} images, {rec['params']:,} params, {rec['macs'] / 1e6:.2f}M MACs)"
        )
    return 0
