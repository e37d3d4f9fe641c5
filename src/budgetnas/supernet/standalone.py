"""Plain (non-elastic) MobileNetV3 networks built from block descriptors.

:func:`build_network` makes a fresh network for one architecture; :func:`budgetnas.supernet.extract`
makes the same network with weights copied from a supernet. It holds only the chosen layers, so
its parameter count equals :meth:`MobileNetSpace.count_params`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from budgetnas.arch import Architecture
from budgetnas.spaces.mobilenet import BlockDescriptor, MobileNetConfig, MobileNetSpace
from budgetnas.supernet.layers import SqueezeExcite, make_act

__all__ = ["Head", "InvertedResidual", "MobileNetChild", "Stem", "build_network"]


class InvertedResidual(nn.Module):
    """Expand 1x1 + BN + act, depthwise kxk + BN + act, [SE], project 1x1 + BN, [+ input]."""

    def __init__(self, d: BlockDescriptor):
        super().__init__()
        self.descriptor = d
        self.expand = nn.Conv2d(d.c_in, d.c_mid, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(d.c_mid)
        self.dw = nn.Conv2d(
            d.c_mid, d.c_mid, d.kernel, d.stride, d.kernel // 2, groups=d.c_mid, bias=False
        )
        self.dw_bn = nn.BatchNorm2d(d.c_mid)
        self.act = make_act(d.act)
        self.se = SqueezeExcite(d.c_mid, d.c_se) if d.c_se else nn.Identity()
        self.proj = nn.Conv2d(d.c_mid, d.c_out, 1, bias=False)
        self.proj_bn = nn.BatchNorm2d(d.c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.expand_bn(self.expand(x)))
        y = self.se(self.act(self.dw_bn(self.dw(y))))
        y = self.proj_bn(self.proj(y))
        return x + y if self.descriptor.residual else y


class Stem(nn.Module):
    """3x3 conv + BN + h-swish, then the fixed depthwise-separable 3x3 block (ReLU)."""

    def __init__(self, cfg: MobileNetConfig):
        super().__init__()
        c0, c1 = cfg.stem_out, cfg.first_out
        self.conv = nn.Conv2d(cfg.in_channels, c0, 3, cfg.stem_stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(c0)
        self.dw = nn.Conv2d(c0, c0, 3, 1, 1, groups=c0, bias=False)
        self.dw_bn = nn.BatchNorm2d(c0)
        self.pw = nn.Conv2d(c0, c1, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(c1)
        self.residual = c0 == c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.hardswish(self.bn(self.conv(x)))
        y = self.pw_bn(self.pw(nn.functional.relu(self.dw_bn(self.dw(x)))))
        return x + y if self.residual else y


class Head(nn.Module):
    """1x1 conv + BN + h-swish, global pool, 1x1 conv (bias) + h-swish, dropout, linear."""

    def __init__(self, cfg: MobileNetConfig):
        super().__init__()
        self.conv = nn.Conv2d(cfg.stage_out[-1], cfg.head_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(cfg.head_out)
        self.feature = nn.Conv2d(cfg.head_out, cfg.feature_out, 1, bias=True)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.feature_out, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.hardswish(self.bn(self.conv(x)))
        x = x.mean((2, 3), keepdim=True)
        x = nn.functional.hardswish(self.feature(x)).flatten(1)
        return self.classifier(self.dropout(x))


class MobileNetChild(nn.Module):
    """One architecture of the space as an ordinary network.

    Example:
        >>> import torch
        >>> from budgetnas.spaces.mobilenet import MobileNetSpace
        >>> space = MobileNetSpace(preset="tiny")
        >>> net = build_network(space, space.smallest())
        >>> net(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 4])
    """

    def __init__(self, cfg: MobileNetConfig, descriptors: Sequence[Sequence[BlockDescriptor]]):
        super().__init__()
        self.config = cfg
        self.stem = Stem(cfg)
        self.stages = nn.ModuleList(
            nn.Sequential(*(InvertedResidual(d) for d in stage)) for stage in descriptors
        )
        self.head = Head(cfg)

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        logits = self.head(x)
        return (logits, feats) if return_stages else logits


def build_network(space: MobileNetSpace, arch: Architecture) -> MobileNetChild:
    """A freshly initialized network of ``arch`` on the macro structure of ``space``."""
    return MobileNetChild(space.config, space.descriptors(arch))
