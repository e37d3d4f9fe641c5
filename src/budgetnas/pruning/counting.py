"""Analytic FLOP / MAC / parameter counts of a network, cross-checked with PyTorch's own counter.

Convention: one multiply-accumulate (MAC) is 2 FLOPs, and only convolutions and linear layers are
counted (batch norm, activations, pooling and residual adds are left out). That is exactly what
``torch.utils.flop_counter.FlopCounterMode`` counts, so the two agree to the FLOP.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Counts:
    """Per-sample counts of one network on one input shape."""

    macs: int
    params: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict[str, float]:
        return {
            "flops_m": self.flops / 1e6,
            "macs_m": self.macs / 1e6,
            "params_m": self.params / 1e6,
        }


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """MACs of one conv/linear call for one sample, given its output."""
    per_sample = output[0].numel() if output.dim() > 1 else output.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for s in module.kernel_size:
            k *= int(s)
        return per_sample * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    raise TypeError(f"no MAC formula for {type(module).__name__}")


def count(model: nn.Module, example: torch.Tensor) -> Counts:
    """MACs per sample (``example`` may hold a batch) and trainable parameters of ``model``.

    Example:
        >>> c = count(nn.Conv2d(3, 8, 3, padding=1), torch.zeros(1, 3, 4, 4))
        >>> c.macs, c.flops
        (3456, 6912)
    """
    total = 0
    hooks = []

    def hook(module, _inp, out):
        nonlocal total
        total += layer_macs(module, out)

    for m in model.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return Counts(macs=int(total), params=int(params))


def torch_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs per sample as counted by ``torch.utils.flop_counter`` (the cross-check)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example[:1])
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
