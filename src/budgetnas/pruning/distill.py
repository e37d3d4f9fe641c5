"""Fine-tuning with inner distillation (ALGORITHMS.md section 6).

loss = CE(student, y) + gamma * mean over blocks of MSE(P_b(student block out), parent block out)
       + kl * T^2 * KL(parent logits / T || student logits / T)

``P_b`` is a learned 1x1 convolution (a linear map for 2-D outputs) where the pruned block is
narrower than the parent's, the identity where the widths match. The parent is frozen in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.models.train import fit_epochs


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
    """The loss above; its projections are trainable parameters (pass them to the optimizer).

    Example:
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
            temp = self.temperature
            loss = loss + self.kl * temp * temp * F.kl_div(
                F.log_softmax(logits / temp, 1),
                F.softmax(t_logits / temp, 1),
                reduction="batchmean",
            )
        return loss

    def close(self) -> None:
        self.s_taps.close()
        self.t_taps.close()


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
) -> list[float]:
    """Fine-tune ``student``; with a ``parent``, by inner distillation, else plain cross-entropy.
    Returns the mean loss of each epoch."""
    if epochs <= 0:
        return []
    example = next(iter(loader))[0]
    crit = None
    params = list(student.parameters())
    if parent is not None and (gamma > 0 or kl > 0):
        pts = default_points(parent, example) if points is None else points
        crit = InnerDistillLoss(student, parent, pts, example, gamma, kl, temperature)
        params += list(crit.proj.parameters())

    def batch_loss(x, y):
        logits = student(x)
        return crit(logits, y, x) if crit is not None else F.cross_entropy(logits, y)

    try:
        return fit_epochs(
            student, params, loader, epochs, batch_loss, lr, weight_decay, log, "fine-tune epoch"
        )
    finally:
        if crit is not None:
            crit.close()
