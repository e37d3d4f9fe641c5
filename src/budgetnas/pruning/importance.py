"""Channel importance per group: first-order Taylor (``|w * dL/dw|`` over data) or magnitude.

Coupled channels (residual adds, depthwise convs, SE gates) are valued as one item: magnitude sums
``|w|`` over every member layer dimension tied to the channel; Taylor sums ``w * dL/dw`` over the
weights that read the channel (the first-order loss change of removing it) per batch and
accumulates the absolute value over batches.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from budgetnas.pruning.groups import CONV, PruningGraph
from budgetnas.registry import Registry

IMPORTANCES: Registry = Registry("importance", modules=[])


def _per_channel(module: nn.Module, kind: str, scores: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum a per-parameter score tensor into one value per output (or input) channel."""
    total = None
    for pname, s in scores.items():
        if kind == "out":
            v = s.reshape(s.shape[0], -1).sum(1) if s.dim() > 1 else s
        else:
            if pname != "weight" or s.dim() < 2:
                continue  # biases and norm parameters belong to the output side
            if isinstance(module, CONV) and module.groups > 1:
                continue  # grouped/depthwise input channels follow their outputs
            v = s.transpose(0, 1).reshape(s.shape[1], -1).sum(1)
        total = v if total is None else total + v
    return total


def group_scores(
    model: nn.Module, graph: PruningGraph, param_score: dict[str, torch.Tensor]
) -> list[np.ndarray]:
    """Aggregate per-parameter scores (keyed by parameter name) into per-group channel values."""
    modules = dict(model.named_modules())
    out = []
    for g in graph.groups:
        value = np.zeros(g.size)
        for mem in g.members:
            module = modules[mem.module]
            local = {
                n: param_score[f"{mem.module}.{n}" if mem.module else n]
                for n, _ in module.named_parameters(recurse=False)
                if (f"{mem.module}.{n}" if mem.module else n) in param_score
            }
            if not local:
                continue
            ch = _per_channel(module, mem.kind, local)
            if ch is None:
                continue
            ch = ch.detach().cpu().numpy()
            np.add.at(value, mem.root, ch[mem.idxs])
        out.append(value)
    return out


def consumer_scores(
    model: nn.Module, graph: PruningGraph, param_score: dict[str, torch.Tensor]
) -> list[np.ndarray]:
    """Per group channel, the sum of a (signed) per-parameter score over the input slices of the
    layers that consume the channel (the group's ``"in"`` members). Removing a channel is exactly
    zeroing those slices, so with ``w * dL/dw`` as the score this is the first-order change of
    the loss. Groups without consumers (outputs) fall back to their producers."""
    modules = dict(model.named_modules())
    out = []
    for g in graph.groups:
        value = np.zeros(g.size)
        members = [m for m in g.members if m.kind == "in" and _consumes(modules[m.module])]
        for mem in members or g.members:
            module = modules[mem.module]
            local = {
                n: param_score[f"{mem.module}.{n}"]
                for n, _ in module.named_parameters(recurse=False)
                if f"{mem.module}.{n}" in param_score
            }
            ch = _per_channel(module, mem.kind, local) if local else None
            if ch is not None:
                np.add.at(value, mem.root, ch.detach().cpu().numpy()[mem.idxs])
        out.append(value)
    return out


def _consumes(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (isinstance(module, CONV) and module.groups == 1)


@IMPORTANCES.register("taylor")
def taylor_importance(
    model: nn.Module,
    graph: PruningGraph,
    batches: Iterable,
    num_batches: int = 16,
    loss_fn=None,
    power: int = 1,
    normalize: bool = False,
) -> list[np.ndarray]:
    """First-order Taylor importance of each group channel, accumulated over batches:
    ``sum_b |sum_{w in channel} w * dL_b/dw| ** power`` where the inner sum runs over the weights
    that read the channel (see :func:`consumer_scores`), so coupled channels are valued by the
    loss change of removing them together. ``power=2`` is the squared criterion of Molchanov et
    al. (2019); ``normalize`` divides every group's scores by their L2 norm (the layer-wise
    rescaling of Molchanov et al., 2017). Batch-norm statistics are not updated (eval mode).
    """
    if power not in (1, 2):
        raise ValueError("power must be 1 or 2")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    params = dict(model.named_parameters())
    acc = [np.zeros(g.size) for g in graph.groups]
    was_training = model.training
    model.eval()
    seen = 0
    device = next(model.parameters()).device
    try:
        for x, y in batches:
            if seen >= num_batches:
                break
            model.zero_grad(set_to_none=True)
            loss = loss_fn(model(x.to(device)), y.to(device))
            loss.backward()
            with torch.no_grad():
                wg = {n: p * p.grad for n, p in params.items() if p.grad is not None}
            for a, v in zip(acc, consumer_scores(model, graph, wg), strict=True):
                a += np.abs(v) ** power
            seen += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if seen == 0:
        raise ValueError("Taylor importance needs at least one batch of data")
    if normalize:
        acc = [a / max(float(np.linalg.norm(a)), 1e-30) for a in acc]
    return acc


@IMPORTANCES.register("magnitude")
def magnitude_importance(
    model: nn.Module, graph: PruningGraph, batches: Iterable | None = None, **_: object
) -> list[np.ndarray]:
    """L1 magnitude ``sum |w|`` per group channel (no data needed)."""
    scores = {n: p.detach().abs() for n, p in model.named_parameters()}
    return group_scores(model, graph, scores)


def calibrate_values(
    model: nn.Module,
    graph: PruningGraph,
    values: list[np.ndarray],
    batches: Iterable,
    fraction: float = 0.5,
    num_batches: int = 4,
    loss_fn=None,
) -> list[np.ndarray]:
    """Rescale each group's channel values to the loss change measured when that group alone
    loses ``fraction`` of its channels (the lowest-valued ones).

    First-order scores rank the channels *within* a group well but are not comparable *across*
    groups: they add up single-channel losses and miss that a layer pruned hard becomes a
    bottleneck, and residual channels read by many layers sum over more weights. Removing the
    lowest ``fraction`` of a group for real, on ``num_batches`` batches in eval mode, gives the
    group's actual loss change ``dL_g``; its values are scaled so that the removed ones add up to
    ``dL_g`` (at least a small positive floor), which the knapsack then trades across groups.
    """
    from budgetnas.pruning.apply import apply_keep

    if not 0 < fraction < 1:
        raise ValueError("fraction must be in (0, 1)")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    data = []
    for x, y in batches:
        if len(data) >= num_batches:
            break
        data.append((x, y))
    if not data:
        raise ValueError("calibration needs at least one batch of data")

    def mean_loss(net: nn.Module) -> float:
        was = net.training
        net.eval()
        with torch.no_grad():
            total = sum(float(loss_fn(net(x), y)) * len(y) for x, y in data)
        net.train(was)
        return total / sum(len(y) for _, y in data)

    base = mean_loss(model)
    full = [np.arange(g.size) for g in graph.groups]
    changes = []
    for g, v in zip(graph.groups, values, strict=True):
        n_remove = int(np.floor(fraction * g.size))
        if n_remove == 0:
            changes.append(None)
            continue
        order = np.argsort(v, kind="stable")
        keep = list(full)
        keep[g.index] = np.sort(order[n_remove:])
        changes.append(
            (mean_loss(apply_keep(model, graph, keep)) - base, v[order[:n_remove]].sum())
        )
    measured = [c[0] for c in changes if c is not None]
    floor = max(1e-3 * max(measured, default=0.0), 1e-9)
    out = []
    for v, c in zip(values, changes, strict=True):
        if c is None:
            out.append(v.copy())
            continue
        delta, removed = c
        out.append(v * (max(delta, floor) / max(float(removed), 1e-30)))
    return out


__all__ = [
    "IMPORTANCES",
    "calibrate_values",
    "consumer_scores",
    "group_scores",
    "magnitude_importance",
    "taylor_importance",
]
