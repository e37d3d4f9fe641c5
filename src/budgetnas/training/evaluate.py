"""Accuracy of a network or of one supernet path (after BatchNorm recalibration).

:func:`accuracy` is the one top-1 accuracy of the package: the training loops, the pipeline and
the benchmarks score networks with it. Every evaluation runs under ``torch.inference_mode`` and,
given a ``runtime`` (:class:`budgetnas.devices.Runtime`), on its device under its autocast; without
one, on the model's device in fp32.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from budgetnas.arch import Architecture
from budgetnas.devices import Runtime
from budgetnas.supernet.bn import recalibrate_bn

__all__ = [
    "accuracy",
    "batch_counts",
    "model_runtime",
    "one_shot_accuracy",
    "one_shot_counts",
    "softmax_outputs",
]


def model_runtime(model: nn.Module, runtime: Runtime | None = None) -> Runtime:
    """``runtime``, or the device of ``model``'s parameters in fp32."""
    if runtime is not None:
        return runtime
    return Runtime(next(model.parameters()).device)


def batch_counts(
    model: nn.Module, batches: Iterable, runtime: Runtime | None = None
) -> tuple[list[int], list[int]]:
    """Correct top-1 predictions and images of every ``(inputs, labels)`` batch, in eval mode."""
    correct, total = _counts(model, batches, runtime)
    if sum(total) == 0:
        raise ValueError("no data to evaluate on")
    return correct, total


def _counts(
    model: nn.Module, batches: Iterable, runtime: Runtime | None = None
) -> tuple[list[int], list[int]]:
    model.eval()
    rt = model_runtime(model, runtime)
    correct, total = [], []
    with torch.inference_mode(), rt.autocast():
        for x, y in batches:
            pred = model(rt.move(x)).argmax(1)
            correct.append(int((pred == rt.move(y)).sum()))
            total.append(len(y))
    return correct, total


def accuracy(
    model: nn.Module,
    batches: Iterable,
    *,
    keep_mode: bool = False,
    empty: float | None = None,
    runtime: Runtime | None = None,
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
        correct, total = _counts(model, batches, runtime)
    finally:
        if keep_mode:
            model.train(was_training)
    if sum(total) == 0:
        if empty is None:
            raise ValueError("no data to evaluate on")
        return float(empty)
    return sum(correct) / sum(total)


def one_shot_accuracy(
    supernet,
    arch: Architecture,
    recal_batches: Iterable,
    eval_batches: Iterable,
    bn_batches: int,
    runtime: Runtime | None = None,
) -> float:
    """Accuracy of path ``arch`` of ``supernet`` after re-estimating its BatchNorm statistics.

    The supernet's running statistics are overwritten (they only hold meaning for one path).
    """
    correct, total = one_shot_counts(
        supernet, arch, recal_batches, eval_batches, bn_batches, runtime
    )
    return sum(correct) / sum(total)


def one_shot_counts(
    supernet,
    arch: Architecture,
    recal_batches: Iterable,
    eval_batches: Iterable,
    bn_batches: int,
    runtime: Runtime | None = None,
) -> tuple[list[int], list[int]]:
    """:func:`one_shot_accuracy` per held-out batch: ``(correct, total)`` lists."""
    supernet.set_active(arch)
    recalibrate_bn(supernet, recal_batches, bn_batches, runtime)
    return batch_counts(supernet, eval_batches, runtime)


def softmax_outputs(net: nn.Module, batches: Iterable, runtime: Runtime):
    """The softmax of ``net``'s outputs on every batch of ``(inputs, labels)``, one row per
    image (a float32 numpy array), on ``runtime``'s device under its autocast."""
    import numpy as np

    from budgetnas.devices import on_device

    ps = []
    with on_device(net, runtime.device), torch.inference_mode():
        net.eval()
        for x, _ in batches:
            x = runtime.move(x)
            with runtime.autocast():
                logits = net(x)
            ps.append(torch.softmax(logits.float(), 1).cpu().numpy())
    return np.concatenate(ps)
