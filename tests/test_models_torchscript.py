import numpy as np
import pytest
import torch
from torch import nn

from budgetnas.costs.modules import count, torch_flops
from budgetnas.models import build_model
from budgetnas.models.torchscript import TorchScriptError, check_equivalent, from_torchscript
from budgetnas.pruning.apply import apply_keep
from budgetnas.pruning.groups import PruningGraph

X = torch.randn(2, 1, 28, 28)


@pytest.mark.parametrize("name", ["resnet8", "mobilenetv2_se"])
def test_traced_networks_rebuild_with_their_layers_and_groups(name, tmp_path):
    torch.manual_seed(0)
    net = build_model(name, in_channels=1, num_classes=4).eval()
    torch.jit.save(torch.jit.trace(net, X), str(tmp_path / "m.ts"))
    ts = torch.jit.load(str(tmp_path / "m.ts"))
    gm = from_torchscript(ts)
    assert check_equivalent(ts, gm, torch.randn(3, 1, 28, 28)) < 1e-5
    # the layers come back under their original names, with the same channel groups
    layers = {n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    rebuilt = {n for n, m in gm.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert rebuilt == layers
    g, g0 = PruningGraph(gm, X), PruningGraph(net, X)
    assert sorted(x.size for x in g.groups) == sorted(x.size for x in g0.groups)
    assert g.unprunable == g0.unprunable
    # and it prunes for real, counts exactly, and pickles
    keep = [np.arange(max(1, x.size // 2)) for x in g.groups]
    pruned = apply_keep(gm, g, keep)
    assert 2 * count(pruned, X).macs == torch_flops(pruned, X)
    assert count(pruned, X).macs == g.macs(np.array([len(k) for k in keep], float))
    torch.save(pruned, tmp_path / "p.pt")
    again = torch.load(tmp_path / "p.pt", weights_only=False).eval()
    assert torch.allclose(again(X), pruned.eval()(X))


def test_control_flow_and_mismatches_are_refused():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)

        def forward(self, x):
            if x.sum() > 0:
                return self.conv(x)
            return -self.conv(x)

    with pytest.raises(TorchScriptError, match="control flow"):
        from_torchscript(torch.jit.script(Branchy()))
    ts = torch.jit.trace(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval(), X)
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval()
    with pytest.raises(TorchScriptError, match="differs"):
        check_equivalent(ts, other, X)


def test_a_layer_called_twice_stays_one_module():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.relu(self.conv(x)))

    net = Twice().eval()
    ts = torch.jit.trace(net, X)
    gm = from_torchscript(ts)
    assert check_equivalent(ts, gm, X) < 1e-6
    assert [n for n, m in gm.named_modules() if isinstance(m, nn.Conv2d)] == ["conv"]
