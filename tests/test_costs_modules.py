"""Counts of arbitrary modules: the built-in conv / linear formulas and registered custom layers."""

import pytest
import torch
from torch import nn

from budgetnas.costs.modules import (
    count,
    module_counter,
    register_module_counter,
    torch_flops,
    unregister_module_counter,
)


class Bilinear(nn.Module):
    """A custom layer with its own weight: ``x W x^T`` per sample, no conv or linear inside."""

    def __init__(self, n: int):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n, n))

    def forward(self, x):
        return torch.einsum("bi,ij,bj->b", x, self.w, x)[:, None]


def test_a_registered_custom_layer_is_counted_and_matches_torch():
    net = nn.Sequential(nn.Linear(5, 6), Bilinear(6))
    x = torch.randn(3, 5)
    assert count(net, x).macs == 30  # the linear layer only: the custom one is unknown
    try:

        @register_module_counter(Bilinear)
        def _bilinear(module, inputs, output):
            n = module.w.shape[0]
            return n * n + n  # x W, then its dot product with x

        assert module_counter(net[1]) is _bilinear
        c = count(net, x)
        assert c.macs == 30 + 42 and c.params == 5 * 6 + 6 + 36
    finally:
        unregister_module_counter(Bilinear)
    assert count(net, x).macs == 30 and module_counter(net[1]) is None


def test_subclasses_use_the_nearest_registered_formula():
    class Wide(nn.Linear):
        pass

    x = torch.randn(1, 4)
    assert count(Wide(4, 3), x).macs == 12  # nn.Linear's formula
    register_module_counter(Wide, lambda m, i, o: 1)
    try:
        assert count(Wide(4, 3), x).macs == 1
        assert count(nn.Linear(4, 3), x).macs == 12
    finally:
        unregister_module_counter(Wide)
    with pytest.raises(ValueError, match="built in"):
        unregister_module_counter(nn.Linear)
    with pytest.raises(TypeError):
        register_module_counter(int, lambda m, i, o: 0)


def test_conv_counts_agree_with_torch():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, groups=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=4))
    x = torch.randn(2, 3, 9, 9)
    assert 2 * count(net, x).macs == torch_flops(net, x)
