"""Fine-tuning of an extracted child with KL distillation from the heaviest path
(docs/methods/supernet.md): the one recipe that ``budgetnas run`` applies to the found network
and that the baseline benchmark applies to every network it compares, so they all get the same
treatment."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.supernet.bn import recalibrate_bn
from budgetnas.training.distill import kl_teacher_student
from budgetnas.training.optim import sgd_cosine


def heaviest_teacher(supernet, recal_batches: Iterable, bn_batches: int) -> nn.Module:
    """A frozen copy of ``supernet`` on its heaviest path, BatchNorm recalibrated, in eval mode."""
    teacher = copy.deepcopy(supernet)
    teacher.set_active(supernet.space.heaviest())
    recalibrate_bn(teacher, recal_batches, bn_batches)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def distill_finetune(
    child: nn.Module,
    teacher: nn.Module,
    train,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    max_steps: int | None = None,
) -> nn.Module:
    """Train ``child`` in place on ``train`` with ``CE + KL(teacher || child)``; SGD with momentum
    0.9 and a cosine schedule over the epochs; ``max_steps`` caps the batches of each epoch."""
    from budgetnas.data import make_loader
    from budgetnas.training.speed import fast_layout, plain_layout

    fast_layout(child, next(child.parameters()).device)
    steps = max(1, epochs * -(-len(train) // batch_size))
    opt, sched = sgd_cosine(child.parameters(), lr, steps, schedule="annealing")
    torch.manual_seed(seed)
    for ep in range(epochs):
        child.train()
        for i, (x, y) in enumerate(make_loader(train, batch_size, True, seed=seed + ep)):
            if max_steps is not None and i >= max_steps:
                break
            with torch.no_grad():
                t_logits = teacher(x)
            logits = child(x)
            loss = F.cross_entropy(logits, y) + kl_teacher_student(logits, t_logits)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return plain_layout(child).eval()


__all__ = ["distill_finetune", "heaviest_teacher"]
