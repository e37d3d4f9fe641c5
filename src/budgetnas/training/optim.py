"""The one optimizer set-up of every training loop: SGD with momentum and a cosine schedule.

Supernet training (:mod:`budgetnas.training.supernet`), the plain classifier and pruning loops
(:mod:`budgetnas.models.train`) and the fine-tuning of found networks
(:mod:`budgetnas.training.finetune`) all build their optimizer here. The schedule steps once per
batch and decays the rate to zero over ``steps`` steps:

* ``schedule="cosine"``: ``lr * 0.5 * (1 + cos(pi * min(step, steps) / steps))``, closed form
  (a ``LambdaLR``; it stays at zero after ``steps``);
* ``schedule="annealing"``: PyTorch's ``CosineAnnealingLR(opt, steps)`` (the recursive form, whose
  values differ from the closed form in the last bits, and which rises again after ``steps``).

Example:
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> opt, sched = sgd_cosine(net.parameters(), 0.1, 4, weight_decay=5e-4, no_decay_1d=True)
    >>> [g["weight_decay"] for g in opt.param_groups]  # the bias has no weight decay
    [0.0005, 0.0]
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.1, 0.0854, 0.05, 0.0146]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

__all__ = ["cosine_factor", "sgd_cosine"]


def cosine_factor(total: int) -> Callable[[int], float]:
    """The closed-form cosine decay ``step -> 0.5 * (1 + cos(pi * min(step, total) / total))``.

    A plain function (not an object), so the scheduler's state dict holds no lambda state and
    checkpoints written before this module existed load unchanged."""

    def factor(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    return factor


def sgd_cosine(
    params: Iterable,
    lr: float,
    steps: int,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0,
    nesterov: bool = False,
    no_decay_1d: bool = False,
    schedule: str = "cosine",
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    """SGD on ``params`` and its per-step cosine schedule over ``steps`` steps (at least 1).

    ``no_decay_1d``: two parameter groups, weight decay on the parameters of two or more
    dimensions and none on biases and norm scales (in that order); otherwise one group with
    ``weight_decay``. ``schedule``: ``"cosine"`` or ``"annealing"`` (see the module docstring).
    """
    if no_decay_1d:
        decay, no_decay = [], []
        for p in params:
            (no_decay if p.ndim <= 1 else decay).append(p)
        opt = torch.optim.SGD(
            [
                {"params": decay, "weight_decay": weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
        )
    else:
        opt = torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )
    total = max(1, steps)
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_factor(total))
    elif schedule == "annealing":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    else:
        raise ValueError(f"unknown schedule {schedule!r}; use 'cosine' or 'annealing'")
    return opt, sched
