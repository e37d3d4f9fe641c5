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

from budgetnas.devices import Runtime, backward, step
from budgetnas.supernet.bn import recalibrate_bn
from budgetnas.training.distill import kl_teacher_student
from budgetnas.training.optim import sgd_cosine


def heaviest_teacher(
    supernet, recal_batches: Iterable, bn_batches: int, runtime: Runtime | None = None
) -> nn.Module:
    """A frozen copy of ``supernet`` on its heaviest path, BatchNorm recalibrated (on
    ``runtime``'s device and autocast), in eval mode."""
    teacher = copy.deepcopy(supernet)
    teacher.set_active(supernet.space.heaviest())
    recalibrate_bn(teacher, recal_batches, bn_batches, runtime)
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
    runtime: Runtime | None = None,
) -> nn.Module:
    """Train ``child`` in place on ``train`` with ``CE + KL(teacher || child)``; SGD with momentum
    0.9 and a cosine schedule over the epochs; ``max_steps`` caps the batches of each epoch.
    ``child`` and ``teacher`` are on ``runtime``'s device (default: the child's, in fp32); the
    forward passes run under its autocast, with loss scaling in fp16."""
    from budgetnas.data import make_loader
    from budgetnas.training.speed import fast_layout, plain_layout

    rt = runtime or Runtime(next(child.parameters()).device)
    scaler = rt.scaler()
    fast_layout(child, rt.device)
    steps = max(1, epochs * -(-len(train) // batch_size))
    opt, sched = sgd_cosine(child.parameters(), lr, steps, schedule="annealing")
    torch.manual_seed(seed)
    for ep in range(epochs):
        child.train()
        loader = make_loader(train, batch_size, True, seed=seed + ep, device=rt.device)
        for i, (x, y) in enumerate(loader):
            if max_steps is not None and i >= max_steps:
                break
            distill_step(child, teacher, x, y, opt, rt, scaler)
            sched.step()
    return plain_layout(child).eval()


def distill_step(child, teacher, x, y, opt, runtime: Runtime, scaler=None) -> torch.Tensor:
    """One step of ``child`` on ``CE + KL(teacher || child)`` for the batch ``(x, y)``: both
    forward passes under ``runtime``'s autocast (the teacher's without gradients), the losses in
    fp32, the backward pass scaled by ``scaler`` (fp16), one ``opt`` step. Returns the loss."""
    x, y = runtime.move(x, y)
    with runtime.autocast():
        with torch.no_grad():
            t_logits = teacher(x)
        logits = child(x)
    logits, t_logits = logits.float(), t_logits.float()
    loss = F.cross_entropy(logits, y) + kl_teacher_student(logits, t_logits)
    opt.zero_grad(set_to_none=True)
    backward(loss, scaler)
    step(opt, scaler)
    return loss.detach()


__all__ = ["distill_finetune", "heaviest_teacher"]
