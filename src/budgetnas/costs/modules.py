"""FLOP / MAC / parameter counts of any ``nn.Module``, by layer type, cross-checked with PyTorch.

Convention: one multiply-accumulate (MAC) is 2 FLOPs, and only convolutions and linear layers are
counted (batch norm, activations, pooling and residual adds are left out). That is exactly what
``torch.utils.flop_counter.FlopCounterMode`` counts, so the two agree to the FLOP
(:func:`torch_flops` is the cross-check). Parameters are every parameter of the model.

A layer type the counter does not know (a custom attention, a fused op) is counted by
registering its MAC formula with :func:`register_module_counter` (as torch-pruning's op counter
or fvcore's handles do). The formula gets the module, its positional inputs and its output for
*one* sample (the counting pass runs on ``example[:1]``) and returns that call's MACs. A
registered type's own work is counted by its formula and its child modules by theirs, so a
formula counts only what the children do not. Registration is by type and applies to subclasses
too; the nearest registered class in the type's MRO wins.

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Scale(nn.Module):  # one multiply per input element, no conv or linear inside
    ...     def forward(self, x):
    ...         return 2 * x
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Scale())
    >>> count(net, torch.zeros(1, 3, 4, 4)).macs
    3456
    >>> _ = register_module_counter(Scale, lambda module, inputs, output: output.numel())
    >>> count(net, torch.zeros(1, 3, 4, 4)).macs  # 3456 + 8 * 4 * 4
    3584
    >>> unregister_module_counter(Scale)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = [
    "Counts",
    "ModuleCounter",
    "count",
    "layer_macs",
    "module_counter",
    "register_module_counter",
    "torch_flops",
    "unregister_module_counter",
]

#: ``fn(module, inputs, output) -> MACs`` of one call on one sample
ModuleCounter = Callable[[nn.Module, tuple, Any], int]


@dataclass(frozen=True)
class Counts:
    """Per-sample counts of one network on one input shape."""

    macs: int
    params: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict[str, float]:
        return {
            "flops_m": self.flops / 1e6,
            "macs_m": self.macs / 1e6,
            "params_m": self.params / 1e6,
        }


def _per_sample(output: torch.Tensor) -> int:
    return output[0].numel() if output.dim() > 1 else output.numel()


def _conv_macs(module: nn.modules.conv._ConvNd, _inputs: tuple, output: torch.Tensor) -> int:
    k = 1
    for s in module.kernel_size:
        k *= int(s)
    return _per_sample(output) * (module.in_channels // module.groups) * k


def _linear_macs(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> int:
    return _per_sample(output) * module.in_features


_COUNTERS: dict[type, ModuleCounter] = {
    nn.modules.conv._ConvNd: _conv_macs,
    nn.Linear: _linear_macs,
}
_BUILTIN = frozenset(_COUNTERS)


def register_module_counter(module_type: type, fn: ModuleCounter | None = None):
    """Count the MACs of every ``module_type`` layer with ``fn(module, inputs, output)``; as a
    decorator when ``fn`` is left out. Replaces an earlier registration of the same type."""
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"register_module_counter needs an nn.Module subclass, got {module_type!r}")

    def deco(fn: ModuleCounter) -> ModuleCounter:
        _COUNTERS[module_type] = fn
        return fn

    return deco if fn is None else deco(fn)


def unregister_module_counter(module_type: type) -> None:
    """Forget the counter of ``module_type`` (the built-in conv and linear counters stay)."""
    if module_type in _BUILTIN:
        raise ValueError(f"the counter of {module_type.__name__} is built in")
    _COUNTERS.pop(module_type, None)


def module_counter(module: nn.Module) -> ModuleCounter | None:
    """The counter of ``module``'s type (nearest registered class in its MRO), or ``None``."""
    for cls in type(module).__mro__:
        if cls in _COUNTERS:
            return _COUNTERS[cls]
    return None


def layer_macs(module: nn.Module, output: torch.Tensor, inputs: tuple = ()) -> int:
    """MACs of one call of a counted layer for one sample, given its output."""
    fn = module_counter(module)
    if fn is None:
        raise TypeError(f"no MAC formula for {type(module).__name__}")
    return int(fn(module, inputs, output))


def count(model: nn.Module, example: torch.Tensor) -> Counts:
    """MACs per sample (``example`` may hold a batch) and trainable parameters of ``model``.

    Example:
        >>> c = count(nn.Conv2d(3, 8, 3, padding=1), torch.zeros(1, 3, 4, 4))
        >>> c.macs, c.flops
        (3456, 6912)
    """
    total = 0
    hooks = []

    def hook(module, inp, out):
        nonlocal total
        total += layer_macs(module, out, inp)

    for m in model.modules():
        if module_counter(m) is not None:
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return Counts(macs=int(total), params=int(params))


def torch_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs per sample as counted by ``torch.utils.flop_counter`` (the cross-check)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example[:1])
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
