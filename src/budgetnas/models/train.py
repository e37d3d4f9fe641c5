"""Plain supervised training and evaluation loops for the benchmark networks.

(Kept beside the models because ``budgetnas.training`` belongs to the supernet work; the loops are
small and generic and can move there.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn


class Batches:
    """Exactly ``n`` batches of ``loader``, cycling through its epochs: a fixed training length
    for :func:`fit_epochs` (``fit_epochs(model, params, Batches(loader, n), 1, ...)``)."""

    def __init__(self, loader: Iterable, n: int):
        if n < 0:
            raise ValueError("n must be >= 0")
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        left = self.n
        while left > 0:
            empty = True
            for batch in self.loader:
                empty = False
                yield batch
                left -= 1
                if left == 0:
                    return
            if empty:
                raise ValueError("the loader yields no batches")


def evaluate(model: nn.Module, loader: Iterable) -> float:
    """Top-1 accuracy of ``model`` on ``loader`` (eval mode, no grad)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += int(y.numel())
    model.train(was_training)
    return correct / max(total, 1)


def make_optimizer(
    params, lr: float, epochs: int, steps_per_epoch: int, weight_decay: float = 5e-4
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and a per-step cosine schedule to zero."""
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    return opt, sched


def fit_epochs(
    model: nn.Module,
    params,
    loader,
    epochs: int,
    batch_loss: Callable,
    lr: float,
    weight_decay: float,
    log: Callable[[str], None] | None = None,
    label: str = "epoch",
    progress: bool = False,
    on_epoch_end: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> list[float]:
    """The shared training loop: SGD + cosine schedule on ``params``, ``batch_loss(x, y)`` per
    batch; returns the mean loss of each epoch. ``progress`` shows a bar per epoch on stderr.

    ``on_epoch_end(state)`` gets, after every epoch, what continuing needs besides the model's
    weights: the epochs done, optimizer, scheduler, losses and RNG states (torch's and the
    loader's shuffling generator). Passing such a ``state`` back as ``resume`` (with the weights
    restored) continues as if the run had not stopped."""
    import sys

    from tqdm import tqdm

    opt, sched = make_optimizer(params, lr, epochs, len(loader), weight_decay)
    losses: list[float] = []
    start = 0
    generator = getattr(loader, "generator", None)
    if resume is not None:
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        losses, start = list(resume["losses"]), int(resume["epoch"])
        torch.set_rng_state(resume["rng"])
        if generator is not None and resume.get("loader_rng") is not None:
            generator.set_state(resume["loader_rng"])
    model.train()
    for epoch in range(start, epochs):
        total, n = 0.0, 0
        bar = tqdm(
            loader,
            desc=f"{label} {epoch + 1}/{epochs}",
            file=sys.stderr,
            disable=not progress,
            leave=False,
            mininterval=2.0,
        )
        for x, y in bar:
            opt.zero_grad(set_to_none=True)
            loss = batch_loss(x, y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            n += len(y)
        losses.append(total / max(n, 1))
        if log:
            log(f"{label} {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(
                {
                    "epoch": epoch + 1,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "losses": list(losses),
                    "rng": torch.get_rng_state(),
                    "loader_rng": generator.get_state() if generator is not None else None,
                }
            )
    return losses


def train_classifier(
    model: nn.Module,
    loader,
    epochs: int,
    lr: float = 0.05,
    weight_decay: float = 5e-4,
    loss_fn: Callable | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    on_epoch_end: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> list[float]:
    """Train with cross-entropy; returns the mean training loss of each epoch (checkpointing as
    in :func:`fit_epochs`)."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    return fit_epochs(
        model,
        model.parameters(),
        loader,
        epochs,
        lambda x, y: loss_fn(model(x), y),
        lr,
        weight_decay,
        log,
        progress=progress,
        on_epoch_end=on_epoch_end,
        resume=resume,
    )
