"""Extract one architecture of a supernet into a standalone network with copied weights."""

from __future__ import annotations

import torch

from budgetnas.arch import Architecture
from budgetnas.supernet.standalone import InvertedResidual, MobileNetChild
from budgetnas.supernet.supernet import ElasticBlock, MobileNetSupernet, bn_key

__all__ = ["extract"]


@torch.no_grad()
def extract(supernet: MobileNetSupernet, arch: Architecture | None = None) -> MobileNetChild:
    """A standalone copy of path ``arch`` (default: the active path) of ``supernet``.

    In eval mode its outputs equal the supernet's on that path; it holds only the chosen layers.
    The copy is in the supernet's training mode and on its device.
    """
    space = supernet.space
    arch = supernet.active if arch is None else arch
    descriptors = space.descriptors(arch)
    child = MobileNetChild(space.config, descriptors)
    child.stem.load_state_dict(supernet.stem.state_dict())
    child.head.load_state_dict(supernet.head.state_dict())
    for s, cfgs in enumerate(space.stage_blocks(arch)):
        for b, cfg in enumerate(cfgs):
            _copy_block(supernet.stages[s][b], child.stages[s][b], cfg)
    ref = next(supernet.parameters())
    return child.to(ref.device).train(supernet.training)


def _copy_block(src: ElasticBlock, dst: InvertedResidual, cfg) -> None:
    mid, c_se = src.widths(cfg)
    d = dst.descriptor
    if (mid, c_se) != (d.c_mid, d.c_se):
        raise AssertionError(f"width mismatch {(mid, c_se)} vs descriptor {(d.c_mid, d.c_se)}")
    k = str(cfg.kernel)
    dst.expand.weight.copy_(src.expand.weight[:mid])
    _copy_bn(src.expand_bn, dst.expand_bn, mid)
    dst.dw.weight.copy_(src.dw[k].weight[:mid])
    _copy_bn(src.dw_bn[k], dst.dw_bn, mid)
    if cfg.se:
        dst.se.reduce.weight.copy_(src.se_reduce.weight[:c_se, :mid])
        dst.se.reduce.bias.copy_(src.se_reduce.bias[:c_se])
        dst.se.expand.weight.copy_(src.se_expand.weight[:mid, :c_se])
        dst.se.expand.bias.copy_(src.se_expand.bias[:mid])
    dst.proj.weight.copy_(src.proj.weight[:, :mid])
    _copy_bn(src.proj_bn[bn_key(cfg.expansion, cfg.se)], dst.proj_bn, d.c_out)


def _copy_bn(src, dst, channels: int) -> None:
    dst.weight.copy_(src.weight[:channels])
    dst.bias.copy_(src.bias[:channels])
    dst.running_mean.copy_(src.running_mean[:channels])
    dst.running_var.copy_(src.running_var[:channels])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)
    dst.eps, dst.momentum = src.eps, src.momentum
