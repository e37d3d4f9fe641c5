"""Accuracy of a network or of one supernet path (after BatchNorm recalibration)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from budgetnas.arch import Architecture
from budgetnas.supernet.bn import recalibrate_bn


@torch.no_grad()
def batch_counts(model: nn.Module, batches: Iterable) -> tuple[list[int], list[int]]:
    """Correct top-1 predictions and images of every ``(inputs, labels)`` batch, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    correct, total = [], []
    for x, y in batches:
        pred = model(x.to(device)).argmax(1)
        correct.append(int((pred.cpu() == y).sum()))
        total.append(len(y))
    if sum(total) == 0:
        raise ValueError("no data to evaluate on")
    return correct, total


def accuracy(model: nn.Module, batches: Iterable) -> float:
    """Top-1 accuracy of ``model`` in eval mode over ``(inputs, labels)`` batches."""
    correct, total = batch_counts(model, batches)
    return sum(correct) / sum(total)


def one_shot_accuracy(
    supernet, arch: Architecture, recal_batches: Iterable, eval_batches: Iterable, bn_batches: int
) -> float:
    """Accuracy of path ``arch`` of ``supernet`` after re-estimating its BatchNorm statistics.

    The supernet's running statistics are overwritten (they only hold meaning for one path).
    """
    correct, total = one_shot_counts(supernet, arch, recal_batches, eval_batches, bn_batches)
    return sum(correct) / sum(total)


def one_shot_counts(
    supernet, arch: Architecture, recal_batches: Iterable, eval_batches: Iterable, bn_batches: int
) -> tuple[list[int], list[int]]:
    """:func:`one_shot_accuracy` per held-out batch: ``(correct, total)`` lists."""
    supernet.set_active(arch)
    recalibrate_bn(supernet, recal_batches, bn_batches)
    return batch_counts(supernet, eval_batches)
