"""Accuracy of a network or of one supernet path (after BatchNorm recalibration).

:func:`accuracy` is the one top-1 accuracy of the package: the training loops, the pipeline and
the benchmarks score networks with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from budgetnas.arch import Architecture
from budgetnas.supernet.bn import recalibrate_bn

__all__ = ["accuracy", "batch_counts", "one_shot_accuracy", "one_shot_counts"]


def batch_counts(model: nn.Module, batches: Iterable) -> tuple[list[int], list[int]]:
    """Correct top-1 predictions and images of every ``(inputs, labels)`` batch, in eval mode."""
    correct, total = _counts(model, batches)
    if sum(total) == 0:
        raise ValueError("no data to evaluate on")
    return correct, total


@torch.no_grad()
def _counts(model: nn.Module, batches: Iterable) -> tuple[list[int], list[int]]:
    model.eval()
    device = next(model.parameters()).device
    correct, total = [], []
    for x, y in batches:
        pred = model(x.to(device)).argmax(1)
        correct.append(int((pred.to(y.device) == y).sum()))
        total.append(len(y))
    return correct, total


def accuracy(
    model: nn.Module, batches: Iterable, *, keep_mode: bool = False, empty: float | None = None
) -> float:
    """Top-1 accuracy of ``model`` in eval mode over ``(inputs, labels)`` batches.

    The model is left in eval mode unless ``keep_mode`` (then its training flag is restored).
    No images at all raise ValueError, unless ``empty`` gives the value to return then.

    Example:
        >>> net = nn.Linear(2, 2)
        >>> _ = net.weight.data.copy_(torch.eye(2)), net.bias.data.zero_()
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        >>> accuracy(net, [(x, torch.tensor([0, 1, 1]))])
        0.6666666666666666
        >>> accuracy(net.train(), [], keep_mode=True, empty=0.0), net.training
        (0.0, True)
    """
    was_training = model.training
    try:
        correct, total = _counts(model, batches)
    finally:
        if keep_mode:
            model.train(was_training)
    if sum(total) == 0:
        if empty is None:
            raise ValueError("no data to evaluate on")
        return float(empty)
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
