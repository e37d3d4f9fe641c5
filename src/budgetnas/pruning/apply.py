"""Remove channels for real: the result is a smaller ``nn.Module`` with no masks."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from budgetnas.pruning.groups import PruningError, PruningGraph


def apply_keep(
    model: nn.Module, graph: PruningGraph, keep: list[np.ndarray], inplace: bool = False
) -> nn.Module:
    """Return ``model`` with, in every group ``g``, only the root channels ``keep[g]`` left.

    ``keep[g]`` holds root-channel indices of group ``g`` (as in :class:`PruningGraph`). The
    network is copied first unless ``inplace``. The output shape is checked to be unchanged.
    """
    import torch_pruning as tp

    if len(keep) != len(graph.groups):
        raise ValueError(f"expected {len(graph.groups)} keep sets, got {len(keep)}")
    net = model if inplace else copy.deepcopy(model)
    modules = dict(net.named_modules())
    was_training = net.training
    net.eval()
    with torch.no_grad():
        ref_shape = net(graph.example).shape
    with torch.enable_grad():
        dg = tp.DependencyGraph().build_dependency(net, graph.example, verbose=False)
    for g, kept in zip(graph.groups, keep, strict=True):
        kept = np.unique(np.asarray(kept, dtype=int))
        if kept.size == 0:
            raise PruningError(f"group {g.index} (root {g.root}) would lose every channel")
        if kept.min() < 0 or kept.max() >= g.size:
            raise ValueError(f"group {g.index}: channel index out of range 0..{g.size - 1}")
        remove = sorted(set(range(g.size)) - set(kept.tolist()))
        if not remove:
            continue
        root = modules[g.root]
        pruner = dg.get_pruner_of_module(root)
        grp = dg.get_pruning_group(root, pruner.prune_out_channels, idxs=remove)
        grp.prune()
    net.train(was_training)
    net.eval()
    with torch.no_grad():
        shape = net(graph.example).shape
    net.train(was_training)
    if shape != ref_shape:
        raise PruningError(
            f"pruning changed the output shape from {tuple(ref_shape)} to {tuple(shape)}"
        )
    return net


__all__ = ["apply_keep"]
