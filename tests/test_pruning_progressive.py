import numpy as np
import pytest
import torch

from budgetnas.costs.modules import count
from budgetnas.models import build_model
from budgetnas.models.train import Batches
from budgetnas.pruning.groups import PruningError, PruningGraph
from budgetnas.pruning.progressive import geometric_schedule, progressive_prune
from budgetnas.units import parse_budget

X = torch.randn(2, 1, 16, 16)


def batches(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 16, 16, generator=g), torch.randint(0, 4, (8,), generator=g))] * n


@pytest.fixture(scope="module")
def parent():
    torch.manual_seed(0)
    return build_model("resnet8", in_channels=1, num_classes=4, width=8).eval()


def test_geometric_schedule_ends_at_the_target():
    s = geometric_schedule(100.0, 25.0, 2)
    assert s == pytest.approx([50.0, 25.0])
    assert geometric_schedule(10.0, 3.0, 1) == [3.0]
    with pytest.raises(ValueError):
        geometric_schedule(10.0, 3.0, 0)


def test_every_step_meets_its_limit_and_the_last_the_budget(parent):
    calls = []

    def recover(net, step):
        calls.append((step, count(net, X).macs))

    out = progressive_prune(
        parent, X, parse_budget("flops_ratio<=0.4"), batches(), steps=3, recover=recover
    )
    full = count(parent, X).macs
    assert count(out.model, X).macs / full <= 0.4
    assert out.value == pytest.approx(count(out.model, X).macs / full)
    # the limits shrink geometrically and every intermediate network met its own
    assert len(out.schedule) == 3 and np.all(np.diff(out.schedule) < 0)
    assert all(m <= lim * (1 + 1e-9) for m, lim in zip(out.measured, out.schedule, strict=True))
    # recovery runs between steps, on networks that really got smaller, not after the last
    assert [c[0] for c in calls] == [1, 2]
    assert full > calls[0][1] > calls[1][1] > count(out.model, X).macs
    assert out.model(X).shape == (2, 4)
    # the parent is untouched
    assert count(parent, X).macs == full


def test_min_keep_refers_to_the_parent_widths(parent):
    graph = PruningGraph(parent, X)
    sizes = {g.root: g.size for g in graph.groups}
    out = progressive_prune(
        parent, X, parse_budget("flops_ratio<=0.3"), batches(), steps=4, min_keep_ratio=0.5
    )
    last = PruningGraph(out.model, X)
    for g in last.groups:
        full = max(sizes.get(m, 0) for m in g.layers("out"))
        # a per-step 50% would compound to 6%; the parent-relative floor keeps half of each group
        assert g.size >= np.ceil(0.5 * full)


def test_budgets_that_ask_for_nothing_or_the_impossible(parent):
    out = progressive_prune(parent, X, parse_budget("flops_ratio<=1.5"), batches())
    assert out.value == pytest.approx(1.0) and len(out.schedule) == 1
    assert count(out.model, X).params == count(parent, X).params
    with pytest.raises(PruningError, match="unreachable"):
        progressive_prune(parent, X, parse_budget("flops_ratio<=0.001"), batches(), steps=2)


def test_batches_gives_an_exact_number_across_epochs():
    data = [(i, i) for i in range(3)]
    assert [b[0] for b in Batches(data, 7)] == [0, 1, 2, 0, 1, 2, 0]
    assert len(Batches(data, 7)) == 7 and list(Batches(data, 0)) == []
    with pytest.raises(ValueError, match="no batches"):
        list(Batches([], 2))


def test_calibrated_squared_scores_still_meet_the_budget(parent):
    out = progressive_prune(
        parent,
        X,
        parse_budget("params_m<=0.004"),
        batches(),
        steps=2,
        importance_kwargs={"power": 2},
        calibrate=0.5,
    )
    assert count(out.model, X).params / 1e6 <= 0.004
    assert out.value == pytest.approx(count(out.model, X).params / 1e6)


def test_remaining_finetuning_keeps_the_total_number_of_batches():
    from budgetnas.pruning.progressive import remaining_finetuning

    data = [(i, i) for i in range(4)]
    assert remaining_finetuning(data, 2, 0) == (data, 2)
    loader, epochs = remaining_finetuning(data, 2, 3)
    assert epochs == 1 and [b[0] for b in loader] == [0, 1, 2, 3, 0]
    assert len(remaining_finetuning(data, 1, 9)[0]) == 0
