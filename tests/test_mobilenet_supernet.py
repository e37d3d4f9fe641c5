"""Supernet: extraction equals the path, counts equal the analytic counts, channel sorting."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.supernet import MobileNetSupernet, build_network, extract, recalibrate_bn
from budgetnas.supernet.layers import sliced_bn

pytestmark = pytest.mark.usefixtures("one_thread")


def _randomize(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine terms, so equivalence is not a coincidence."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            elif isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return MobileNetSpace(preset="tiny")


@pytest.fixture(scope="module")
def supernet(space) -> MobileNetSupernet:
    torch.manual_seed(0)
    net = MobileNetSupernet(space)
    _randomize(net)
    return net.eval()


def test_extraction_equals_supernet_path(space, supernet):
    torch.manual_seed(1)
    x = torch.randn(4, 3, 16, 16)
    rng = np.random.default_rng(0)
    archs = [space.heaviest(), space.smallest()] + [space.sample(rng) for _ in range(40)]
    worst = 0.0
    with torch.no_grad():
        for arch in archs:
            supernet.set_active(arch)
            child = extract(supernet, arch).eval()
            diff = (child(x) - supernet(x)).abs().max().item()
            worst = max(worst, diff)
            assert sum(p.numel() for p in child.parameters()) == space.count_params(arch)
    assert worst < 1e-5
    # paths differ from each other, so the check above compares distinct functions
    supernet.set_active(archs[0])
    y0 = supernet(x)
    supernet.set_active(archs[1])
    assert (supernet(x) - y0).abs().max() > 1e-3


def test_flops_match_analytic_and_flop_counter(space, supernet):
    rng = np.random.default_rng(2)
    x = torch.randn(1, 3, 16, 16)
    for arch in [space.heaviest(), space.smallest()] + [space.sample(rng) for _ in range(8)]:
        child = extract(supernet, arch).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            child(x)
        assert counter.get_total_flops() == space.count_flops(arch) == 2 * space.count_macs(arch)


def test_analytic_params_of_other_presets():
    for preset in ("imagenet", "fmnist-small", "cifar-small"):
        sp = MobileNetSpace(preset=preset)
        for arch in (sp.heaviest(), sp.sample(0)):
            net = build_network(sp, arch)
            assert sum(p.numel() for p in net.parameters()) == sp.count_params(arch)


def _random_heaviest(space, seed: int):
    """A supernet with random weights (``seed``) on its heaviest path, and a random batch."""
    torch.manual_seed(seed)
    net = MobileNetSupernet(space)
    _randomize(net, seed=seed)
    net.eval().set_active(space.heaviest())
    return net, torch.randn(3, 3, 16, 16)


def test_channel_reordering_preserves_heaviest_and_sorts(space):
    net, x = _random_heaviest(space, 3)
    with torch.no_grad():
        before = net(x)
        net.set_active(space.smallest())
        small_before = net(x)
        net.reorder_channels()
        net.set_active(space.heaviest())
        assert (net(x) - before).abs().max() < 1e-5
        net.set_active(space.smallest())
        assert (net(x) - small_before).abs().max() > 1e-4  # narrow paths now keep other channels
    for block in net.elastic_blocks():
        imp = block.proj.weight.abs().sum(dim=(0, 2, 3))
        assert torch.all(imp[:-1] >= imp[1:])


def test_sliced_bn_updates_only_its_prefix():
    bn = torch.nn.BatchNorm2d(8)
    x = torch.randn(16, 4, 3, 3) + 2.0
    bn.train()
    sliced_bn(x, bn, 4)
    assert torch.all(bn.running_mean[4:] == 0) and torch.all(bn.running_mean[:4] > 0.1)
    ref = torch.nn.BatchNorm2d(4).train()
    ref(x)
    assert torch.allclose(bn.running_mean[:4], ref.running_mean)
    assert torch.allclose(bn.running_var[:4], ref.running_var)


def test_recalibration_gives_exact_average_statistics(space):
    torch.manual_seed(4)
    net = build_network(space, space.smallest())
    batches = [(torch.randn(8, 3, 16, 16) * 2 + 1, torch.zeros(8)) for _ in range(3)]
    used = recalibrate_bn(net, batches, num_batches=5)
    assert used == 3 and not net.training
    x = torch.cat([b[0] for b in batches])
    with torch.no_grad():
        z = net.stem.conv(x)
    per_batch = z.view(3, 8, *z.shape[1:]).mean(dim=(1, 3, 4))
    assert torch.allclose(net.stem.bn.running_mean, per_batch.mean(0), atol=1e-5)
    assert net.stem.bn.momentum == 0.1  # restored


def test_train_mode_step_updates_only_active_weights(space):
    torch.manual_seed(5)
    net = MobileNetSupernet(space).train()
    net.set_active(space.smallest())
    net(torch.randn(4, 3, 16, 16)).sum().backward()
    block = net.stages[0][0]
    assert block.dw["5"].weight.grad is None  # kernel 5 is not on the path
    assert block.expand.weight.grad[24:].abs().sum() == 0  # beyond e=3 width (8 * 3 = 24)
    assert block.expand.weight.grad[:24].abs().sum() > 0
    assert net.stages[0][3].expand.weight.grad is None  # depth 2: block 4 unused


def test_gated_forward_with_one_hot_gates_is_the_path(space, supernet):
    """The hook of the hardcore solver: one-hot gates give the path's output, train and eval."""
    torch.manual_seed(6)
    x = torch.randn(4, 3, 16, 16)
    rng = np.random.default_rng(6)
    archs = [space.heaviest(), space.smallest()] + [space.sample(rng) for _ in range(6)]
    net = copy.deepcopy(supernet)  # train mode moves running statistics
    for train in (False, True):
        net.train(train)
        for arch in archs:
            net.set_active(arch)
            with torch.no_grad():
                gated = net.forward_gated(x, torch.tensor(space.encode(arch), dtype=torch.float32))
                assert (gated - net(x)).abs().max() < 1e-5
    with pytest.raises(ValueError, match="gates"):
        net.forward_gated(x, torch.ones(3))


def test_gated_forward_gradient_is_the_derivative_of_mixing_in_an_option(space, supernet):
    """d loss / d gate, for sampled and unsampled options and depths, equals the central finite
    difference of the loss along that gate (double precision, batch statistics)."""
    net = copy.deepcopy(supernet).double().train()
    torch.manual_seed(7)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    w = torch.randn(4, 4, dtype=torch.float64)
    arch = space.sample(7)
    h = torch.tensor(space.encode(arch), dtype=torch.float64, requires_grad=True)
    (net.forward_gated(x, h) * w).sum().backward()
    sl = space.group_slice(space.block_group(1, 0))
    unsampled = sl.start + (arch.choices[space.block_group(1, 0)] + 5) % 12
    deeper = space.group_slice(space.depth_group(2)).start + 2  # depth 4 of stage 3
    eps = 1e-6
    for i in (sl.start + arch.choices[space.block_group(1, 0)], unsampled, deeper):
        e = torch.zeros_like(h)
        e[i] = eps
        with torch.no_grad():
            up = (net.forward_gated(x, h + e) * w).sum()
            down = (net.forward_gated(x, h - e) * w).sum()
        fd = float((up - down) / (2 * eps))
        assert h.grad[i].item() == pytest.approx(fd, rel=1e-5, abs=1e-8)
    assert h.grad[unsampled].abs() > 1e-6  # an option off the path still gets a gradient


def test_inherit_from_heaviest_starts_unused_weights_from_trained_ones(space):
    net, x = _random_heaviest(space, 5)
    with torch.no_grad():
        before = net(x)
        net.inherit_from_heaviest()
        assert torch.equal(net(x), before)  # the heaviest path uses none of the inherited weights
    for block in net.elastic_blocks():
        assert torch.equal(block.dw["3"].weight, block.dw["5"].weight[:, :, 1:4, 1:4])
        bn3, bn5 = block.dw_bn["3"].state_dict(), block.dw_bn["5"].state_dict()
        assert all(torch.equal(t, bn5[k]) for k, t in bn3.items())
        ref = block.proj_bn["e6se"].state_dict()
        for bn in block.proj_bn.values():
            assert all(torch.equal(t, ref[k]) for k, t in bn.state_dict().items())
    # copies, not shared tensors: training one kernel later leaves the other alone
    block = next(iter(net.elastic_blocks()))
    with torch.no_grad():
        block.dw["3"].weight.add_(1.0)
    assert not torch.equal(block.dw["3"].weight, block.dw["5"].weight[:, :, 1:4, 1:4])
