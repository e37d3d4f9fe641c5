import numpy as np
import torch

from budgetnas.models import build_model
from budgetnas.pruning.apply import apply_keep
from budgetnas.pruning.distill import InnerDistillLoss, finetune
from budgetnas.pruning.groups import PruningGraph

X = torch.randn(2, 1, 16, 16)


def test_projections_where_widths_differ_and_parent_untouched():
    torch.manual_seed(0)
    parent = build_model("resnet8", in_channels=1, num_classes=4, width=8)
    graph = PruningGraph(parent, X)
    stage1 = next(g for g in graph.groups if g.root == "stem.0")
    keep = [np.arange(g.size) for g in graph.groups]
    keep[stage1.index] = np.arange(4)
    student = apply_keep(parent, graph, keep)
    loss = InnerDistillLoss(student, parent, parent.distill_points(), X, gamma=1.0, kl=1.0)
    assert set(loss.proj) == {"blocks_0"}  # only stage 1 got narrower
    assert loss.proj["blocks_0"].weight.shape == (8, 4, 1, 1)
    loss.close()
    before = {k: v.clone() for k, v in parent.state_dict().items()}
    data = [(torch.randn(8, 1, 16, 16), torch.randint(0, 4, (8,))) for _ in range(3)]
    losses = finetune(student, data, 2, parent=parent, gamma=1.0, kl=0.5, lr=0.05)
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert losses[1] < losses[0]
    after = parent.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in parent.parameters())
    assert not any(h for m in parent.modules() for h in m._forward_hooks.values())
