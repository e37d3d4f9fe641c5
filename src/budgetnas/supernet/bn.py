"""BatchNorm recalibration: re-estimate running statistics of the active path before evaluating."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["recalibrate_bn"]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable, num_batches: int = 20, runtime=None) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them as the exact average over
    ``num_batches`` batches of ``(inputs, labels)`` (cumulative averaging, momentum ``None``).

    The batches go to the model's device (``runtime``, a :class:`budgetnas.devices.Runtime`: its
    device and autocast; under autocast BatchNorm still keeps its statistics in fp32). The
    model is left in eval mode. Returns the number of batches used.
    """
    from budgetnas.devices import Runtime

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    rt = runtime if runtime is not None else Runtime(next(model.parameters()).device)
    model.train()
    used = 0
    try:
        with rt.autocast():
            for x, _ in batches:
                if used >= num_batches:
                    break
                model(rt.move(x))
                used += 1
    finally:
        for bn, m in zip(bns, saved, strict=True):
            bn.momentum = m
        model.eval()
    if used == 0:
        raise ValueError("BatchNorm recalibration got no batches")
    return used
