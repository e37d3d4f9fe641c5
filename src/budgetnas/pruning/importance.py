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
) -> list[np.ndarray]:
    """First-order Taylor importance of each group channel, accumulated over batches:
    ``sum_b |sum_{w in channel} w * dL_b/dw|`` where the inner sum runs over the weights that
    read the channel (see :func:`consumer_scores`), so coupled channels are valued by the loss
    change of removing them together. Batch-norm statistics are not updated (eval mode).
    """
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
                a += np.abs(v)
            seen += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if seen == 0:
        raise ValueError("Taylor importance needs at least one batch of data")
    return acc


@IMPORTANCES.register("magnitude")
def magnitude_importance(
    model: nn.Module, graph: PruningGraph, batches: Iterable | None = None, **_: object
) -> list[np.ndarray]:
    """L1 magnitude ``sum |w|`` per group channel (no data needed)."""
    scores = {n: p.detach().abs() for n, p in model.named_parameters()}
    return group_scores(model, graph, scores)
