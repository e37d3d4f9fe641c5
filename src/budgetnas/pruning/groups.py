"""Channel groups from torch-pruning's dependency graph, and an exact width model of the costs.

A :class:`ChannelGroup` is a set of output channels that must be removed together: the channels
of every convolution feeding one residual add, a depthwise convolution and the layer before it,
an SE gate and the channels it multiplies. torch-pruning traces the graph (autograd plus module
hooks) and finds these couplings; this module records, per group, which layer dimensions follow
it, so the cost of any choice of kept channels can be computed without touching the network:
``macs = sum_l k_l * HW_l * out_l * in_l / groups_l`` with ``out_l`` / ``in_l`` the kept counts of
the groups driving layer ``l``. That model is bilinear in the kept counts and equals the count on
the really pruned network (checked after removal by :func:`budgetnas.costs.modules.count`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

CONV = nn.modules.conv._ConvNd
NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)


class PruningError(ValueError):
    """The network cannot be pruned as asked (untraceable graph, impossible budget, ...)."""


@dataclass
class Member:
    """One layer dimension in a group: ``idxs[j]`` of ``module`` follows root channel ``root[j]``."""

    module: str
    kind: str  # "out" or "in"
    idxs: np.ndarray
    root: np.ndarray


@dataclass
class ChannelGroup:
    index: int
    root: str  # the layer whose output channels define the group
    size: int
    members: list[Member] = field(default_factory=list)

    def layers(self, kind: str) -> list[str]:
        return [m.module for m in self.members if m.kind == kind]


@dataclass
class Layer:
    """A conv or linear layer in the width model (full widths, measured output size)."""

    name: str
    out_full: int
    in_full: int
    groups_full: int
    per_out_in: float  # MACs per (output channel x input channel / groups) for one sample
    weight_per: int  # weight elements per (out x in / groups)
    bias: bool
    out_group: int | None = None
    in_group: int | None = None
    in_ratio: float = 1.0  # input features per kept channel of in_group (flatten)
    depthwise: bool = False

    def widths(self, keep: np.ndarray) -> tuple[float, float, float]:
        out = self.out_full if self.out_group is None else float(keep[self.out_group])
        if self.depthwise:
            return out, out, out
        if self.in_group is None:
            inn = float(self.in_full)
        else:
            inn = float(keep[self.in_group]) * self.in_ratio
        return out, inn, float(self.groups_full)


class PruningGraph:
    """The prunable channel groups of ``model`` and the exact cost of any kept-channel counts.

    Example:
        >>> from budgetnas.models import build_model
        >>> net = build_model("resnet8", in_channels=1)
        >>> g = PruningGraph(net, torch.zeros(1, 1, 28, 28))
        >>> int(g.macs(g.full_keep())) == int(g.full_macs)
        True
    """

    def __init__(
        self,
        model: nn.Module,
        example: torch.Tensor,
        ignored: list[str] | None = None,
        output_layers: list[str] | None = None,
    ):
        import torch_pruning as tp

        self.model = model
        self.example = example[:1]
        names = {m: n for n, m in model.named_modules()}
        modules = dict(model.named_modules())
        unknown = [n for n in (ignored or []) + (output_layers or []) if n not in modules]
        if unknown:
            raise PruningError(f"no such layers in the model: {', '.join(unknown)}")
        outs = list(output_layers or []) or find_output_layers(model, self.example)
        self.output_layers = outs
        ignored_modules = [modules[n] for n in (ignored or []) + outs]
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                dg = tp.DependencyGraph().build_dependency(
                    model, example_inputs=self.example, verbose=False
                )
        except Exception as err:  # tracing failures come in many types
            raise PruningError(
                f"cannot trace {type(model).__name__} into a dependency graph "
                f"({type(err).__name__}: {err}); prune a plain nn.Module whose forward uses "
                "standard layers, or list the offending layers with --ignore"
            ) from err
        finally:
            model.train(was_training)
        self.unwrapped = [
            n for n, p in model.named_parameters() if p in dict(dg.unwrapped_parameters or [])
        ]
        self.groups: list[ChannelGroup] = []
        covered: set[str] = set()
        for grp in dg.get_all_groups(
            ignored_layers=ignored_modules, root_module_types=[CONV, nn.Linear]
        ):
            root_module = grp[0].dep.target.module
            size = len(grp[0].idxs)
            cg = ChannelGroup(len(self.groups), names[root_module], size)
            for item in grp:
                module = item.dep.target.module
                if module not in names:
                    continue  # functional nodes (adds, activations) carry no weights
                kind = "out" if dg.is_out_channel_pruning_fn(item.dep.handler) else "in"
                cg.members.append(
                    Member(names[module], kind, np.asarray(item.idxs), np.asarray(item.root_idxs))
                )
                if kind == "out":
                    covered.add(names[module])
            self.groups.append(cg)
        self._build_layers(model, modules)
        self.unprunable = sorted(
            n for n, m in modules.items() if isinstance(m, (CONV, nn.Linear)) and n not in covered
        )
        self.full_macs = self.macs(self.full_keep())
        self.full_params = self.params(self.full_keep())

    # -- width model ---------------------------------------------------------------------------
    def _build_layers(self, model: nn.Module, modules: dict[str, nn.Module]) -> None:
        spatial: dict[str, float] = {}
        hooks = []
        for name, m in modules.items():
            if isinstance(m, (CONV, nn.Linear)):

                def hook(mod, _i, out, name=name):
                    o = out[0] if out.dim() > 1 else out
                    per_ch = o.numel() / (o.shape[0] if isinstance(mod, CONV) else o.shape[-1])
                    spatial[name] = spatial.get(name, 0.0) + per_ch

                hooks.append(m.register_forward_hook(hook))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(self.example)
        finally:
            for h in hooks:
                h.remove()
            model.train(was_training)
        self.layers: dict[str, Layer] = {}
        for name, m in modules.items():
            if name not in spatial:
                continue
            if isinstance(m, CONV):
                k = int(np.prod(m.kernel_size))
                self.layers[name] = Layer(
                    name,
                    m.out_channels,
                    m.in_channels,
                    m.groups,
                    spatial[name] * k,
                    k,
                    m.bias is not None,
                    depthwise=m.groups > 1 and m.groups == m.in_channels == m.out_channels,
                )
            else:
                self.layers[name] = Layer(
                    name, m.out_features, m.in_features, 1, spatial[name], 1, m.bias is not None
                )
        self.norms: dict[str, tuple[int, int | None]] = {}  # name -> (affine params per ch, group)
        for name, m in modules.items():
            if isinstance(m, NORMS) and getattr(m, "weight", None) is not None:
                self.norms[name] = (2 if m.bias is not None else 1, None)
        for g in self.groups:
            for mem in g.members:
                if mem.module in self.layers:
                    layer = self.layers[mem.module]
                    if mem.kind == "out":
                        layer.out_group = g.index
                    elif not layer.depthwise:
                        layer.in_group = g.index
                        layer.in_ratio = len(mem.idxs) / max(1, len(np.unique(mem.root)))
                elif mem.module in self.norms and mem.kind == "out":
                    self.norms[mem.module] = (self.norms[mem.module][0], g.index)
        counted = set(self.layers) | {n for n, (_, gi) in self.norms.items() if gi is not None}
        self._fixed_params = sum(
            p.numel()
            for n, m in modules.items()
            if n not in counted
            for p in m.parameters(recurse=False)
        )

    def full_keep(self) -> np.ndarray:
        return np.array([g.size for g in self.groups], dtype=float)

    def layer_macs(self, keep: np.ndarray) -> dict[str, float]:
        out = {}
        for name, layer in self.layers.items():
            o, i, gr = layer.widths(keep)
            out[name] = layer.per_out_in * o * i / gr
        return out

    def macs(self, keep: np.ndarray) -> float:
        return float(sum(self.layer_macs(keep).values()))

    def params(self, keep: np.ndarray) -> float:
        total = float(self._fixed_params)
        for layer in self.layers.values():
            o, i, gr = layer.widths(keep)
            total += layer.weight_per * o * i / gr + (o if layer.bias else 0.0)
        for per, gi in self.norms.values():
            if gi is not None:
                total += per * keep[gi]
        return total

    def describe(self) -> list[dict]:
        return [
            {
                "group": g.index,
                "root": g.root,
                "channels": g.size,
                "layers": sorted({m.module for m in g.members}),
            }
            for g in self.groups
        ]


def find_output_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """The conv/linear layers whose outputs are the network's outputs: their output channels are
    the classes and are never pruned. Found as the last conv/linear layers called."""
    order: list[str] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: order.append(n))
        for n, m in model.named_modules()
        if isinstance(m, (CONV, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if not order:
        raise PruningError("the model has no convolution or linear layer to prune")
    modules = dict(model.named_modules())
    last = modules[order[-1]]
    width = out.shape[1] if isinstance(out, torch.Tensor) and out.dim() > 1 else None
    size = last.out_features if isinstance(last, nn.Linear) else last.out_channels
    if width is not None and size != width:
        raise PruningError(
            f"cannot tell which layer produces the outputs (last layer {order[-1]} has {size} "
            f"channels, the output {width}); name it with --output-layer"
        )
    return [order[-1]]


__all__ = [
    "CONV",
    "NORMS",
    "ChannelGroup",
    "Layer",
    "Member",
    "PruningError",
    "PruningGraph",
    "find_output_layers",
]
