"""Distillation losses: every loss that trains a student from a teacher's outputs.

* :func:`inner_distillation_loss`: HardCoRe-NAS stage B of supernet training, labels + stage
  outputs + logits (``CE + gamma * (sum_stages MSE / 50 + KL(teacher || student))``);
* :func:`kl_teacher_student`: KL(teacher || student) of the logits (fine-tuning found networks);
* :class:`InnerDistillLoss`: the pruning fine-tuning loss, block outputs of a pruned network
  matched to its parent's through learned projections, plus a tempered KL (:func:`soft_kl`).

See docs/methods/supernet.md and docs/methods/pruning.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "InnerDistillLoss",
    "default_points",
    "inner_distillation_loss",
    "kl_teacher_student",
    "soft_kl",
]


def kl_teacher_student(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student), averaged over the batch."""
    return F.kl_div(
        F.log_softmax(student_logits, dim=1),
        F.log_softmax(teacher_logits, dim=1),
        reduction="batchmean",
        log_target=True,
    )


def inner_distillation_loss(
    student_logits: torch.Tensor,
    student_stages: Sequence[torch.Tensor],
    teacher_logits: torch.Tensor,
    teacher_stages: Sequence[torch.Tensor],
    labels: torch.Tensor,
    gamma: float = 1.0,
    mse_scale: float = 1.0 / 50.0,
) -> torch.Tensor:
    """``CE + gamma * (sum_stages MSE(student, teacher) / 50 + KL(teacher || student))``."""
    ce = F.cross_entropy(student_logits, labels)
    if gamma == 0:
        return ce
    mse = sum(F.mse_loss(s, t) for s, t in zip(student_stages, teacher_stages, strict=True))
    return ce + gamma * (mse * mse_scale + kl_teacher_student(student_logits, teacher_logits))


def soft_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    weight: float = 1.0,
) -> torch.Tensor:
    """``weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))``, batch mean (Hinton et
    al.'s tempered distillation term; ``T^2`` keeps its gradients' scale independent of ``T``)."""
    return (
        weight
        * temperature
        * temperature
        * F.kl_div(
            F.log_softmax(student_logits / temperature, 1),
            F.softmax(teacher_logits / temperature, 1),
            reduction="batchmean",
        )
    )


def default_points(model: nn.Module, example: torch.Tensor) -> list[str]:
    """``model.distill_points()`` if the model defines it, else the outputs of the children of
    its longest ``nn.Sequential`` (the usual stack of blocks)."""
    if hasattr(model, "distill_points"):
        return list(model.distill_points())
    seqs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Sequential)]
    if not seqs:
        return []
    name, seq = max(seqs, key=lambda t: len(t[1]))
    return [f"{name}.{c}" if name else c for c, _ in seq.named_children()]


class _Taps:
    """Record the outputs of named modules during a forward pass."""

    def __init__(self, model: nn.Module, names: list[str]):
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            raise ValueError(f"distillation points not in the model: {', '.join(missing)}")
        self.out: dict[str, torch.Tensor] = {}
        self.hooks = [
            modules[n].register_forward_hook(lambda m, i, o, n=n: self.out.__setitem__(n, o))
            for n in names
        ]

    def close(self) -> None:
        for h in self.hooks:
            h.remove()


class InnerDistillLoss(nn.Module):
    """Distillation of a (pruned) student from its parent, block by block::

        loss = CE(student, y) + gamma * mean over blocks of MSE(P_b(student out), parent out)
               + kl * T^2 * KL(parent logits / T || student logits / T)

    ``P_b`` is a learned 1x1 convolution (a linear map for 2-D outputs) where the student's block
    at ``points`` is narrower than the parent's, the identity where the widths match; the
    projections are trainable parameters (pass them to the optimizer). Forward hooks record the
    block outputs of both networks: call :meth:`close` to remove them.

    Example:
        >>> import torch
        >>> from budgetnas.models import build_model
        >>> parent = build_model("resnet8", in_channels=1)
        >>> loss = InnerDistillLoss(parent, parent, parent.distill_points(), torch.zeros(1, 1, 28, 28))
        >>> len(loss.proj)  # same widths: no projections needed
        0
    """

    def __init__(
        self,
        student: nn.Module,
        parent: nn.Module,
        points: list[str],
        example: torch.Tensor,
        gamma: float = 1.0,
        kl: float = 0.0,
        temperature: float = 4.0,
    ):
        super().__init__()
        self.points, self.gamma, self.kl, self.temperature = list(points), gamma, kl, temperature
        self.parent = parent
        self.s_taps, self.t_taps = _Taps(student, self.points), _Taps(parent, self.points)
        was = student.training
        student.eval()
        parent.eval()
        with torch.no_grad():
            student(example[:1])
            parent(example[:1])
        student.train(was)
        self.proj = nn.ModuleDict()
        for n in self.points:
            s, t = self.s_taps.out[n], self.t_taps.out[n]
            if s.dim() != t.dim() or s.shape[2:] != t.shape[2:]:
                raise ValueError(
                    f"block {n}: output shapes {tuple(s.shape)} and {tuple(t.shape)} differ beyond channels"
                )
            if s.shape[1] != t.shape[1]:
                key = n.replace(".", "_")
                layer = (
                    nn.Conv2d(s.shape[1], t.shape[1], 1, bias=False)
                    if s.dim() == 4
                    else nn.Linear(s.shape[1], t.shape[1], bias=False)
                )
                self.proj[key] = layer

    def forward(self, logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_logits = self.parent(x)
        loss = F.cross_entropy(logits, y)
        if self.gamma > 0 and self.points:
            mse = 0.0
            for n in self.points:
                s = self.s_taps.out[n]
                key = n.replace(".", "_")
                if key in self.proj:
                    s = self.proj[key](s)
                mse = mse + F.mse_loss(s, self.t_taps.out[n])
            loss = loss + self.gamma * mse / len(self.points)
        if self.kl > 0:
            loss = loss + soft_kl(logits, t_logits, self.temperature, self.kl)
        return loss

    def close(self) -> None:
        self.s_taps.close()
        self.t_taps.close()
