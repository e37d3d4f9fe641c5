"""Inner knowledge distillation (HardCoRe-NAS stage B): labels, stage outputs and logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


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
