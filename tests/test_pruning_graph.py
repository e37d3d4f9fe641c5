import numpy as np
import pytest
import torch
from torch import nn

from budgetnas.costs.modules import count, torch_flops
from budgetnas.models import build_model
from budgetnas.pruning.apply import apply_keep
from budgetnas.pruning.groups import PruningError, PruningGraph
from budgetnas.pruning.importance import magnitude_importance, taylor_importance

X = torch.randn(2, 1, 16, 16)


def small(name):
    torch.manual_seed(0)
    kw = {"width": 8} if name.startswith("resnet") else {"width_mult": 0.5}
    return build_model(name, in_channels=1, num_classes=4, **kw)


@pytest.mark.parametrize("name", ["resnet8", "mobilenetv2_se"])
def test_width_model_equals_count_on_really_pruned_net(name):
    net = small(name)
    graph = PruningGraph(net, X)
    assert graph.unprunable == [("fc" if name == "resnet8" else "classifier")]
    rng = np.random.default_rng(1)
    for _ in range(2):
        keep = [
            np.sort(rng.choice(g.size, rng.integers(1, g.size + 1), replace=False))
            for g in graph.groups
        ]
        counts = np.array([len(k) for k in keep], dtype=float)
        pruned = apply_keep(net, graph, keep)
        c = count(pruned, X)
        assert c.macs == graph.macs(counts)
        assert c.params == graph.params(counts)
        assert 2 * c.macs == torch_flops(pruned, X)
        assert pruned(X).shape == (2, 4)
    # the parent is untouched
    assert count(net, X).macs == graph.full_macs


def test_skip_connection_group_is_pruned_consistently():
    net = small("resnet8")
    graph = PruningGraph(net, X)
    # the stage-1 residual group ties the stem, block 0's conv2 and block 1's shortcut input
    stage1 = next(g for g in graph.groups if g.root == "stem.0")
    outs, ins = set(stage1.layers("out")), set(stage1.layers("in"))
    assert {"stem.0", "blocks.0.conv2", "blocks.0.bn2"} <= outs
    assert {"blocks.0.conv1", "blocks.1.conv1", "blocks.1.shortcut.0"} <= ins
    keep = [np.arange(g.size) for g in graph.groups]
    keep[stage1.index] = np.array([0, 3, 5])
    pruned = apply_keep(net, graph, keep)
    m = dict(pruned.named_modules())
    assert m["stem.0"].out_channels == m["blocks.0.conv2"].out_channels == 3
    assert m["blocks.0.conv1"].in_channels == m["blocks.1.shortcut.0"].in_channels == 3
    # kept channels are the chosen ones, with their weights
    assert torch.equal(m["stem.0"].weight, net.stem[0].weight[[0, 3, 5]])
    assert pruned(X).shape == (2, 4)


def test_depthwise_and_se_are_tied():
    net = small("mobilenetv2_se")
    graph = PruningGraph(net, X)
    g = next(g for g in graph.groups if "blocks.3.body.3" in g.layers("out"))  # depthwise conv
    layers = set(g.layers("out")) | set(g.layers("in"))
    assert {
        "blocks.3.body.0",
        "blocks.3.body.6.expand",
        "blocks.3.body.6.reduce",
        "blocks.3.body.7",
    } <= layers


def test_importances_cover_every_channel():
    net = small("resnet8")
    graph = PruningGraph(net, X)
    data = [(torch.randn(8, 1, 16, 16), torch.randint(0, 4, (8,))) for _ in range(2)]
    for values in (
        taylor_importance(net, graph, data, num_batches=2),
        magnitude_importance(net, graph),
    ):
        assert [v.shape[0] for v in values] == [g.size for g in graph.groups]
        assert all(np.all(v > 0) for v in values)


def test_unsupported_graphs_give_clear_errors():
    class NoLayers(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    with pytest.raises(PruningError, match="no convolution or linear"):
        PruningGraph(NoLayers(), X)
    with pytest.raises(PruningError, match="no such layers"):
        PruningGraph(small("resnet8"), X, ignored=["nope"])


def test_ignored_layers_are_left_alone_and_listed():
    net = small("resnet8")
    graph = PruningGraph(net, X, ignored=["blocks.1.conv1"])
    assert "blocks.1.conv1" in graph.unprunable
    assert all("blocks.1.conv1" not in g.layers("out") for g in graph.groups)


def test_taylor_estimates_the_loss_change_of_removing_a_channel():
    from budgetnas.pruning.importance import consumer_scores

    torch.manual_seed(3)
    net = small("resnet8").eval()
    graph = PruningGraph(net, X)
    x, y = torch.randn(32, 1, 16, 16), torch.randint(0, 4, (32,))
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    wg = {n: p * p.grad for n, p in net.named_parameters()}
    g = next(g for g in graph.groups if g.root == "blocks.0.conv1")
    predicted = -consumer_scores(net, graph, wg)[g.index]
    actual = []
    for c in range(g.size):
        keep = [np.arange(h.size) for h in graph.groups]
        keep[g.index] = np.delete(np.arange(g.size), c)
        pruned = apply_keep(net, graph, keep).eval()
        with torch.no_grad():
            actual.append(float(torch.nn.functional.cross_entropy(pruned(x), y) - loss))
    corr = np.corrcoef(predicted, actual)[0, 1]
    assert corr > 0.8, (predicted, actual)


def test_taylor_power_and_layerwise_normalisation():
    torch.manual_seed(4)
    net = small("resnet8").eval()
    graph = PruningGraph(net, X)
    data = [(torch.randn(8, 1, 16, 16), torch.randint(0, 4, (8,)))]
    plain = taylor_importance(net, graph, data, num_batches=1)
    squared = taylor_importance(net, graph, data, num_batches=1, power=2)
    unit = taylor_importance(net, graph, data, num_batches=1, normalize=True)
    for p, s, u in zip(plain, squared, unit, strict=True):
        # one batch: the squared score is the square of the absolute one; the order is the same
        assert np.allclose(s, p**2)
        assert np.linalg.norm(u) == pytest.approx(1.0)
        assert np.allclose(u * np.linalg.norm(p), p)
    with pytest.raises(ValueError, match="power"):
        taylor_importance(net, graph, data, num_batches=1, power=3)


def test_calibrated_values_add_up_to_the_measured_loss_change():
    from budgetnas.pruning.importance import calibrate_values

    torch.manual_seed(5)
    net = small("resnet8").eval()
    graph = PruningGraph(net, X)
    data = [(torch.randn(16, 1, 16, 16), torch.randint(0, 4, (16,)))]
    values = taylor_importance(net, graph, data, num_batches=1)
    cal = calibrate_values(net, graph, values, data, fraction=0.5)
    with torch.no_grad():
        base = float(torch.nn.functional.cross_entropy(net(data[0][0]), data[0][1]))
    deltas = []
    for g, v, c in zip(graph.groups, values, cal, strict=True):
        order = np.argsort(v, kind="stable")
        n = g.size // 2
        # the order inside a group is kept: calibration is one positive scale per group
        assert np.allclose(c / c.max(), v / v.max())
        keep = [np.arange(h.size) for h in graph.groups]
        keep[g.index] = np.sort(order[n:])
        with torch.no_grad():
            pruned = apply_keep(net, graph, keep).eval()
            delta = float(torch.nn.functional.cross_entropy(pruned(data[0][0]), data[0][1]))
        deltas.append((delta - base, c[order[:n]].sum()))
    floor = 1e-3 * max(d for d, _ in deltas)
    for delta, removed in deltas:
        assert removed == pytest.approx(max(delta, floor), rel=1e-5, abs=1e-9)
    with pytest.raises(ValueError, match="fraction"):
        calibrate_values(net, graph, values, data, fraction=1.0)
