"""Small layers of MobileNetV3 (h-swish, hard sigmoid, squeeze-excite) and sliced BatchNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SqueezeExcite", "act_fn", "make_act", "sliced_bn"]


def make_act(name: str) -> nn.Module:
    """The activation module named ``relu`` or ``hswish``."""
    if name == "relu":
        return nn.ReLU(inplace=False)
    if name == "hswish":
        return nn.Hardswish()
    raise ValueError(f"unknown activation {name!r}")


def act_fn(name: str, x: torch.Tensor) -> torch.Tensor:
    """The activation named ``relu`` or ``hswish`` applied to ``x``."""
    return F.relu(x) if name == "relu" else F.hardswish(x)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation of MobileNetV3: global average, 1x1 reduce to ``reduced`` + ReLU,
    1x1 expand + *hard* sigmoid, channel-wise scale.

    The standalone networks of the mobilenet space use it (``reduced`` is the block descriptor's
    ``c_se``). :class:`budgetnas.models.mobilenet.SigmoidSqueezeExcite` is the MobileNetV2-SE
    variant: a sigmoid gate and a width of ``max(8, channels // reduction)``.

    Example:
        >>> SqueezeExcite(16, 8)(torch.ones(1, 16, 4, 4)).shape
        torch.Size([1, 16, 4, 4])
    """

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = F.hardsigmoid(self.expand(F.relu(self.reduce(s))))
        return x * s


def sliced_bn(x: torch.Tensor, bn: nn.BatchNorm2d, channels: int) -> torch.Tensor:
    """``bn`` applied to the first ``channels`` channels; running statistics are updated in place
    through views, exactly as ``nn.BatchNorm2d`` would (including cumulative averaging when
    ``bn.momentum is None``)."""
    if bn.training and bn.track_running_stats:
        if bn.momentum is None:
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked)
        else:
            bn.num_batches_tracked.add_(1)
            factor = bn.momentum
    else:
        factor = 0.0
    use_batch = bn.training or not bn.track_running_stats
    return F.batch_norm(
        x,
        bn.running_mean[:channels] if bn.running_mean is not None else None,
        bn.running_var[:channels] if bn.running_var is not None else None,
        bn.weight[:channels],
        bn.bias[:channels],
        use_batch,
        factor,
        bn.eps,
    )
