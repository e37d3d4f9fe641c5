"""Fine-tuning of a pruned network with inner distillation from its parent (docs/methods/pruning.md).

The loss is :class:`~budgetnas.training.distill.InnerDistillLoss` (with the other distillation
losses in :mod:`budgetnas.training.distill`; re-exported here)::

    loss = CE(student, y) + gamma * mean over blocks of MSE(P_b(student block out), parent block out)
           + kl * T^2 * KL(parent logits / T || student logits / T)

``P_b`` is a learned 1x1 convolution (a linear map for 2-D outputs) where the pruned block is
narrower than the parent's, the identity where the widths match. The parent is frozen in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import nn

from budgetnas.models.train import fit_epochs
from budgetnas.training.distill import InnerDistillLoss, default_points

__all__ = ["InnerDistillLoss", "default_points", "finetune"]


def finetune(
    student: nn.Module,
    loader,
    epochs: int,
    parent: nn.Module | None = None,
    gamma: float = 1.0,
    kl: float = 0.0,
    temperature: float = 4.0,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    points: list[str] | None = None,
    log: Callable[[str], None] | None = None,
    runtime=None,
    world=None,
) -> list[float]:
    """Fine-tune ``student``; with a ``parent``, by inner distillation, else plain cross-entropy.
    Returns the mean loss of each epoch (this rank's share of the batches under torchrun).

    ``runtime`` (:class:`budgetnas.devices.Runtime`): the student, the parent and the
    projections train on its device under its autocast, and are moved back to the CPU after
    (where pruning measures and exports them).

    ``world`` (:class:`budgetnas.distributed.World`, under torchrun): ``loader`` gives this
    rank's share of every batch; the distillation's projections start as rank 0's, and the
    gradients of the student and the projections are averaged over the ranks at every step."""
    if epochs <= 0:
        return []
    example = next(iter(loader))[0]
    crit = None
    params = list(student.parameters())
    if parent is not None and (gamma > 0 or kl > 0):
        pts = default_points(parent, example) if points is None else points
        crit = InnerDistillLoss(student, parent, pts, example, gamma, kl, temperature)
        if world is not None:
            world.broadcast_state(crit.proj)
        params += list(crit.proj.parameters())

    def batch_loss(x, y):
        logits = student(x)
        return crit(logits, y, x) if crit is not None else F.cross_entropy(logits, y)

    moved = runtime is not None and runtime.device.type != "cpu"
    modules = [m for m in (student, parent, crit) if m is not None]
    try:
        if moved:
            for m in modules:
                m.to(runtime.device)
        sync = world.average_gradients if world is not None and world.distributed else None
        return fit_epochs(
            student, params, loader, epochs, batch_loss, lr, weight_decay, log, "fine-tune epoch",
            runtime=runtime, sync=sync,
        )  # fmt: skip
    finally:
        if moved:
            for m in modules:
                m.to("cpu")
        if crit is not None:
            crit.close()
