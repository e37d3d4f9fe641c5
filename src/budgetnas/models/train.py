"""Plain supervised training loops for the benchmark networks (and pruning's fine-tuning).

The optimizer is :func:`budgetnas.training.optim.sgd_cosine` (SGD with Nesterov momentum, a
per-step cosine schedule to zero); accuracy is :func:`budgetnas.training.evaluate.accuracy`.
"""

from __future__ import annotations

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
    runtime=None,
    sync: Callable[[list], None] | None = None,
) -> list[float]:
    """The shared training loop: SGD + cosine schedule on ``params``, ``batch_loss(x, y)`` per
    batch; returns the mean loss of each epoch. ``progress`` shows a bar per epoch on stderr.

    ``runtime`` (a :class:`budgetnas.devices.Runtime`; the model must be on its device): the
    batches are moved there and ``batch_loss`` runs under its autocast, with loss scaling in
    fp16. Without one, the batches are used as they come, in fp32.

    ``on_epoch_end(state)`` gets, after every epoch, what continuing needs besides the model's
    weights: the epochs done, optimizer, scheduler, losses and RNG states (torch's and the
    loader's shuffling generator). Passing such a ``state`` back as ``resume`` (with the weights
    restored) continues as if the run had not stopped.

    ``sync(params)``, when given, runs between every backward pass and its step (under torchrun:
    :meth:`budgetnas.distributed.World.average_gradients`)."""
    import sys

    from tqdm import tqdm

    from budgetnas.devices import Runtime, backward, step
    from budgetnas.training.optim import sgd_cosine

    params = list(params)
    opt, sched = sgd_cosine(
        params, lr, epochs * len(loader), weight_decay=weight_decay, nesterov=True
    )
    generator = getattr(loader, "generator", None)
    losses, start = _restore(resume, opt, sched, generator)
    rt = runtime
    scaler = rt.scaler() if rt is not None else None
    if scaler is not None and resume is not None and resume.get("scaler") is not None:
        scaler.load_state_dict(resume["scaler"])
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
            if rt is not None:
                x, y = rt.move(x, y)
            opt.zero_grad(set_to_none=True)
            with (rt or Runtime(x.device)).autocast():
                loss = batch_loss(x, y)
            backward(loss.float(), scaler)
            if sync is not None:
                sync(params)
            step(opt, scaler)
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
                    "scaler": scaler.state_dict() if scaler is not None else None,
                }
            )
    return losses


def _restore(resume: dict | None, opt, sched, generator) -> tuple[list[float], int]:
    """Put a state from ``on_epoch_end`` back: optimizer, schedule, RNGs; ``(losses, epoch)``."""
    if resume is None:
        return [], 0
    opt.load_state_dict(resume["optimizer"])
    sched.load_state_dict(resume["scheduler"])
    torch.set_rng_state(resume["rng"])
    if generator is not None and resume.get("loader_rng") is not None:
        generator.set_state(resume["loader_rng"])
    return list(resume["losses"]), int(resume["epoch"])


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
    runtime=None,
) -> list[float]:
    """Train with cross-entropy; returns the mean training loss of each epoch (checkpointing as
    in :func:`fit_epochs`, on ``runtime``'s device and precision)."""
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
        runtime=runtime,
    )


__all__ = ["Batches", "fit_epochs", "train_classifier"]
