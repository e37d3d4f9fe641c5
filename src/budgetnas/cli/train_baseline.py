"""``budgetnas train-baseline``: train a benchmark network (to prune later) and save a checkpoint."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

STATE = "train_state.pt"
STATE_FORMAT = "budgetnas-train-state"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-baseline",
        help="train a ResNet-20 / MobileNetV2-style baseline and save a checkpoint",
        description="Train a network from budgetnas.models with cross-entropy and write "
        "DIR/<model>_<data>.pt (model name + constructor kwargs + weights) and DIR/baseline.json; "
        "DIR/train_state.pt after every epoch, from which --resume continues exactly.",
    )
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist, cifar10 or synthetic")
    p.add_argument("--data-dir", default=None, help="folder holding the dataset folders")
    p.add_argument("--model", default="resnet20", help="a name from budgetnas.models")
    p.add_argument("--width", type=int, default=None, help="base width (resnet) if not default")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--subset", type=int, default=None, help="train on N images of the train split")
    p.add_argument("--eval-subset", type=int, default=None, help="test on N test images")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--resume", action="store_true", help="continue from DIR/train_state.pt (same settings)"
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from budgetnas.data import dataset_info, get_dataset, make_loader
    from budgetnas.models import build_model
    from budgetnas.models.checkpoint import save_checkpoint
    from budgetnas.models.train import train_classifier
    from budgetnas.training.evaluate import accuracy

    if args.epochs < 0:
        raise ValueError("--epochs must be >= 0")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    info = dataset_info(args.data)
    kwargs = {"in_channels": info.channels, "num_classes": info.num_classes}
    if args.width is not None:
        kwargs["width"] = args.width
    net = build_model(args.model, **kwargs)
    train = get_dataset(
        args.data, "train", args.data_dir, augment=True, subset=args.subset, seed=args.seed
    )
    test = get_dataset(args.data, "test", args.data_dir, subset=args.eval_subset, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        k: getattr(args, k)
        for k in ("data", "model", "width", "epochs", "subset", "batch_size", "lr", "seed")
    }
    resume, save_state = _resumable(args, net, out / STATE, settings)
    t0 = time.time()
    losses = train_classifier(
        net,
        make_loader(train, args.batch_size, shuffle=True, seed=args.seed),
        args.epochs,
        lr=args.lr,
        log=lambda s: print(s, flush=True),
        progress=True,
        on_epoch_end=save_state,
        resume=resume,
    )
    train_s = time.time() - t0
    acc = accuracy(net, make_loader(test, 256, shuffle=False))
    meta = {
        "data": args.data,
        "epochs": args.epochs,
        "subset": args.subset,
        "test_accuracy": acc,
        "test_images": len(test),
        "seed": args.seed,
        "train_seconds": round(train_s, 1),
        "losses": losses,
    }
    path = save_checkpoint(out / f"{args.model}_{args.data}.pt", net, args.model, kwargs, meta)
    (out / "baseline.json").write_text(
        json.dumps(
            {"checkpoint": str(path), "model": args.model, "kwargs": kwargs, **meta}, indent=2
        )
    )
    print(f"test accuracy {acc:.4f} on {len(test)} images; checkpoint {path}")
    return 0


def _resumable(args, net, state_path: Path, settings: dict):
    """The saved training state to continue from (``None``: start afresh; the weights are loaded
    into ``net``) and the ``on_epoch_end`` that saves it after every epoch."""
    import torch

    from budgetnas.models.checkpoint import save_atomic

    resume = None
    if args.resume and state_path.is_file():
        saved = torch.load(state_path, weights_only=False)
        if saved.get("format") != STATE_FORMAT:
            raise ValueError(f"{state_path} is not a budgetnas train-baseline state")
        diff = {k: (v, settings[k]) for k, v in saved["settings"].items() if settings[k] != v}
        if diff:
            raise ValueError(f"cannot resume {state_path}: settings differ (saved, now): {diff}")
        net.load_state_dict(saved["model"])
        resume = saved["fit"]
        print(f"resuming after epoch {resume['epoch']} of {args.epochs}", flush=True)
    elif args.resume:
        print(f"no {STATE} in {state_path.parent}; starting afresh", flush=True)

    def save_state(fit_state: dict) -> None:
        save_atomic(
            {
                "format": STATE_FORMAT,
                "settings": settings,
                "model": net.state_dict(),
                "fit": fit_state,
            },
            state_path,
        )

    return resume, save_state


__all__ = ["STATE", "STATE_FORMAT", "register", "run"]
