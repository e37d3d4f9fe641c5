"""The weight-sharing supernet of the elastic MobileNetV3 space (docs/methods/supernet.md).

Each of the 4 x 5 elastic blocks keeps one expansion conv at the widest ratio (e=6); ratio e uses
its first ``make_divisible(c_in * e)`` channels. The 3x3 and 5x5 depthwise kernels have separate
weights (and BatchNorms); :meth:`MobileNetSupernet.inherit_from_heaviest` starts the 3x3 ones from
the centre of the trained 5x5 ones. Squeeze-excite is sliced with the width: its reduce layer
reads the first ``c_mid`` channels and uses its first ``make_divisible(c_mid / 4)`` hidden units. After the
projection each (e, SE) pair has a private BatchNorm. :meth:`MobileNetSupernet.reorder_channels`
sorts the expanded and SE channels by importance (a function-preserving permutation of the
heaviest path), so narrow choices keep the important channels.

:meth:`MobileNetSupernet.forward_gated` runs the relaxed supernet instead of one path: a gate per
binary decision weighs every block configuration and every depth, so a loss can be differentiated
with respect to the decisions (the straight-through estimator of :mod:`budgetnas.search.hardcore`).
:meth:`MobileNetSupernet.forward` does not use it and is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.arch import Architecture
from budgetnas.spaces.mobilenet import (
    BLOCK_OPTIONS,
    DEPTHS,
    EXPANSIONS,
    KERNELS,
    MAX_DEPTH,
    SE_RATIO,
    BlockConfig,
    MobileNetSpace,
    make_divisible,
)
from budgetnas.supernet.layers import act_fn, sliced_bn
from budgetnas.supernet.standalone import Head, Stem

__all__ = ["ElasticBlock", "MobileNetSupernet", "bn_key"]


def bn_key(e: int, se: bool) -> str:
    """The name of the projection BatchNorm of expansion ``e`` with or without squeeze-excite."""
    return f"e{e}{'se' if se else ''}"


class ElasticBlock(nn.Module):
    """An inverted-residual block holding the weights of all 12 configurations."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: str):
        super().__init__()
        self.c_in, self.c_out, self.stride, self.act = c_in, c_out, stride, act
        self.max_mid = make_divisible(c_in * max(EXPANSIONS))
        self.max_se = make_divisible(self.max_mid * SE_RATIO)
        m = self.max_mid
        self.expand = nn.Conv2d(c_in, m, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(m)
        self.dw = nn.ModuleDict(
            {str(k): nn.Conv2d(m, m, k, stride, k // 2, groups=m, bias=False) for k in KERNELS}
        )
        self.dw_bn = nn.ModuleDict({str(k): nn.BatchNorm2d(m) for k in KERNELS})
        self.se_reduce = nn.Conv2d(m, self.max_se, 1, bias=True)
        self.se_expand = nn.Conv2d(self.max_se, m, 1, bias=True)
        self.proj = nn.Conv2d(m, c_out, 1, bias=False)
        self.proj_bn = nn.ModuleDict(
            {bn_key(e, se): nn.BatchNorm2d(c_out) for e in EXPANSIONS for se in (False, True)}
        )
        self.residual = stride == 1 and c_in == c_out

    def widths(self, cfg: BlockConfig) -> tuple[int, int]:
        mid = make_divisible(self.c_in * cfg.expansion)
        return mid, (make_divisible(mid * SE_RATIO) if cfg.se else 0)

    def forward(self, x: torch.Tensor, cfg: BlockConfig) -> torch.Tensor:
        mid, c_se = self.widths(cfg)
        k = str(cfg.kernel)
        y = F.conv2d(x, self.expand.weight[:mid])
        y = act_fn(self.act, sliced_bn(y, self.expand_bn, mid))
        dw = self.dw[k]
        y = F.conv2d(y, dw.weight[:mid], None, dw.stride, dw.padding, 1, mid)
        y = act_fn(self.act, sliced_bn(y, self.dw_bn[k], mid))
        if cfg.se:
            s = y.mean((2, 3), keepdim=True)
            s = F.relu(F.conv2d(s, self.se_reduce.weight[:c_se, :mid], self.se_reduce.bias[:c_se]))
            s = F.conv2d(s, self.se_expand.weight[:mid, :c_se], self.se_expand.bias[:mid])
            y = y * F.hardsigmoid(s)
        y = F.conv2d(y, self.proj.weight[:, :mid])
        y = self.proj_bn[bn_key(cfg.expansion, cfg.se)](y)
        return x + y if self.residual else y

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The residual branch (the block without its skip connection) of every configuration,
        in option order (``BLOCK_OPTIONS``). Shared work runs once: the expansion and the two
        depthwise convolutions at the widest width, then sliced (they and their BatchNorms act per
        channel, so slicing after equals slicing before), and one projection per expansion ratio
        on its 4 inputs stacked along the batch. Equal to :meth:`forward` up to float rounding."""
        m = self.max_mid
        h = act_fn(self.act, sliced_bn(F.conv2d(x, self.expand.weight), self.expand_bn, m))
        dws = {}
        for k in KERNELS:
            dw = self.dw[str(k)]
            d = F.conv2d(h, dw.weight, None, dw.stride, dw.padding, 1, m)
            dws[k] = act_fn(self.act, sliced_bn(d, self.dw_bn[str(k)], m))
        out: list[torch.Tensor] = []
        n = x.shape[0]
        for e in EXPANSIONS:
            cfgs = [c for c in BLOCK_OPTIONS if c.expansion == e]  # option order within e
            mid, c_se = self.widths(BlockConfig(e, KERNELS[0], True))
            ys = []
            for cfg in cfgs:
                y = dws[cfg.kernel][:, :mid]
                if cfg.se:
                    s = F.linear(
                        y.mean((2, 3)),
                        self.se_reduce.weight[:c_se, :mid, 0, 0],
                        self.se_reduce.bias[:c_se],
                    )
                    s = F.linear(
                        F.relu(s),
                        self.se_expand.weight[:mid, :c_se, 0, 0],
                        self.se_expand.bias[:mid],
                    )
                    y = y * F.hardsigmoid(s)[:, :, None, None]
                ys.append(y)
            z = F.conv2d(torch.cat(ys), self.proj.weight[:, :mid])
            for i, cfg in enumerate(cfgs):
                out.append(self.proj_bn[bn_key(e, cfg.se)](z[i * n : (i + 1) * n]))
        return out

    def forward_gated(self, x: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """``sum_c gates[c] * branch_c(x)`` plus the skip connection: with a one-hot ``gates``
        the value of :meth:`forward` with that configuration, and the gradient with respect to
        ``gates[c]`` is that of mixing in configuration ``c``, for every ``c``."""
        y = sum(g * b for g, b in zip(gates, self.branches(x), strict=True))
        return x + y if self.residual else y

    @torch.no_grad()
    def reorder_channels(self) -> None:
        """Sort expanded channels by the L1 norm of their projection weights (and SE hidden units
        by the L1 norm of their expand weights), most important first. The heaviest path computes
        the same function before and after."""
        imp = self.proj.weight.abs().sum(dim=(0, 2, 3))
        perm = torch.argsort(imp, descending=True)
        _permute(self.expand.weight, perm, 0)
        _permute_bn(self.expand_bn, perm)
        for k in KERNELS:
            _permute(self.dw[str(k)].weight, perm, 0)
            _permute_bn(self.dw_bn[str(k)], perm)
        _permute(self.se_reduce.weight, perm, 1)
        _permute(self.se_expand.weight, perm, 0)
        _permute(self.se_expand.bias, perm, 0)
        _permute(self.proj.weight, perm, 1)
        se_imp = self.se_expand.weight.abs().sum(dim=(0, 2, 3))
        se_perm = torch.argsort(se_imp, descending=True)
        _permute(self.se_reduce.weight, se_perm, 0)
        _permute(self.se_reduce.bias, se_perm, 0)
        _permute(self.se_expand.weight, se_perm, 1)

    @torch.no_grad()
    def inherit_from_heaviest(self) -> None:
        """Start the weights that the heaviest path never uses from those it trained: the 3x3
        depthwise kernel from the centre 3x3 of the 5x5 one (with its BatchNorm), and the
        projection BatchNorm of every (e, SE) pair from that of (6, SE on). The heaviest path is
        unchanged. Without it, stage B starts every 3x3 kernel from its random initialisation
        and paths that mix kernel sizes stay far behind (measured: docs/bench/supernet.md)."""
        big, small = max(KERNELS), min(KERNELS)
        cut = (big - small) // 2
        src = self.dw[str(big)].weight
        self.dw[str(small)].weight.copy_(src[:, :, cut : cut + small, cut : cut + small])
        self.dw_bn[str(small)].load_state_dict(self.dw_bn[str(big)].state_dict())
        heaviest = bn_key(max(EXPANSIONS), True)
        for key, bn in self.proj_bn.items():
            if key != heaviest:
                bn.load_state_dict(self.proj_bn[heaviest].state_dict())


def _permute(t: torch.Tensor, perm: torch.Tensor, dim: int) -> None:
    t.copy_(t.index_select(dim, perm))


def _permute_bn(bn: nn.BatchNorm2d, perm: torch.Tensor) -> None:
    for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        _permute(t, perm, 0)


class MobileNetSupernet(nn.Module):
    """All architectures of a :class:`MobileNetSpace` in one set of shared weights.

    Example:
        >>> import torch
        >>> from budgetnas.spaces.mobilenet import MobileNetSpace
        >>> space = MobileNetSpace(preset="tiny")
        >>> net = MobileNetSupernet(space).eval()
        >>> net.set_active(space.smallest())
        >>> net(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 4])
    """

    def __init__(self, space: MobileNetSpace):
        super().__init__()
        self.space = space
        cfg = space.config
        self.config = cfg
        self.stem = Stem(cfg)
        stages = []
        for s in range(len(cfg.stage_out)):
            blocks = []
            for b in range(MAX_DEPTH):
                c_in = (cfg.first_out if s == 0 else cfg.stage_out[s - 1]) if b == 0 else None
                blocks.append(
                    ElasticBlock(
                        c_in if c_in is not None else cfg.stage_out[s],
                        cfg.stage_out[s],
                        cfg.stage_strides[s] if b == 0 else 1,
                        cfg.stage_acts[s],
                    )
                )
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.head = Head(cfg)
        self._active: list[list[BlockConfig]] = space.stage_blocks(space.heaviest())
        self._active_arch = space.heaviest()

    @property
    def active(self) -> Architecture:
        return self._active_arch

    def set_active(self, arch: Architecture) -> None:
        """Make ``arch`` the path that :meth:`forward` runs."""
        self._active = self.space.stage_blocks(arch)
        self._active_arch = arch

    def forward(self, x: torch.Tensor, return_stages: bool = False):
        x = self.stem(x)
        feats = []
        for blocks, cfgs in zip(self.stages, self._active, strict=True):
            for block, cfg in zip(blocks, cfgs, strict=False):
                x = block(x, cfg)
            feats.append(x)
        logits = self.head(x)
        return (logits, feats) if return_stages else logits

    def forward_gated(self, x: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """Logits of the relaxed supernet for ``gates``, a vector in the space's one-hot layout
        (length ``space.n_binaries``): block ``b`` of stage ``s`` outputs the gated sum of its 12
        configurations (:meth:`ElasticBlock.forward_gated`) and stage ``s`` outputs
        ``sum_d gates[depth d] * (output after its block d)``. All 4 blocks of every stage and all
        configurations are computed, so the gradient reaches every gate; with one-hot gates the
        value is :meth:`forward` on that path (up to float rounding). The active path is not used.
        """
        space = self.space
        if gates.shape != (space.n_binaries,):
            raise ValueError(f"expected {space.n_binaries} gates, got shape {tuple(gates.shape)}")
        x = self.stem(x)
        for s, blocks in enumerate(self.stages):
            feats = []
            for b, block in enumerate(blocks):
                x = block.forward_gated(x, gates[space.group_slice(space.block_group(s, b))])
                feats.append(x)
            depth = gates[space.group_slice(space.depth_group(s))]
            x = sum(g * feats[d - 1] for g, d in zip(depth, DEPTHS, strict=True))
        return self.head(x)

    def elastic_blocks(self) -> Iterable[ElasticBlock]:
        for blocks in self.stages:
            yield from blocks

    @torch.no_grad()
    def reorder_channels(self) -> None:
        for block in self.elastic_blocks():
            block.reorder_channels()

    @torch.no_grad()
    def inherit_from_heaviest(self) -> None:
        """:meth:`ElasticBlock.inherit_from_heaviest` in every block (stage B starts with it)."""
        for block in self.elastic_blocks():
            block.inherit_from_heaviest()
