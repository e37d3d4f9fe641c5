"""Accuracy of a network or of one supernet path (after BatchNorm recalibration)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from budgetnas.arch import Architecture
from budgetnas.supernet.bn import recalibrate_bn


@torch.no_grad()
def accuracy(model: nn.Module, batches: Iterable) -> float:
    """Top-1 accuracy of ``model`` in eval mode over ``(inputs, labels)`` batches."""
    model.eval()
    device = next(model.parameters()).device
    correct = total = 0
    for x, y in batches:
        pred = model(x.to(device)).argmax(1)
        correct += int((pred.cpu() == y).sum())
        total += len(y)
    if total == 0:
        raise ValueError("no data to evaluate on")
    return correct / total


def one_shot_accuracy(
    supernet, arch: Architecture, recal_batches: Iterable, eval_batches: Iterable, bn_batches: int
) -> float:
    """Accuracy of path ``arch`` of ``supernet`` after re-estimating its BatchNorm statistics.

    The supernet's running statistics are overwritten (they only hold meaning for one path).
    """
    supernet.set_active(arch)
    recalibrate_bn(supernet, recal_batches, bn_batches)
    return accuracy(supernet, eval_batches)
