"""Peak-memory budgets: the cheapest peak reported is the true minimum, feasible ones are met."""

import numpy as np
import pytest

from budgetnas.costs.counting import CountCost, PeakMemoryCost
from budgetnas.spaces.mobilenet import BLOCK_OPTIONS, DEPTHS, MobileNetSpace


@pytest.fixture(scope="module")
def space():
    return MobileNetSpace(preset="tiny")


def _lightest(space, cost):
    """The network of smallest peak: every stage at the smallest depth, each block at its
    lightest config."""
    d = min(DEPTHS)
    return space.from_stage_blocks(
        [[BLOCK_OPTIONS[int(np.argmin(cost.table[s, b]))] for b in range(d)] for s in range(5)]
    )


def test_minimum_is_the_smallest_peak(space):
    cost = PeakMemoryCost(space)
    lightest = _lightest(space, cost)
    assert cost.evaluate(lightest) == pytest.approx(cost.minimum())
    samples = [space.sample(i) for i in range(200)] + [space.smallest(), space.heaviest()]
    assert min(cost.evaluate(a) for a in samples) >= cost.minimum() - 1e-12
    # the limited form overstates the peak off its feasible set: its minimum is no bound
    assert cost.minimum() == pytest.approx(32.768)


def test_pareto_peak_reports_the_true_cheapest(space):
    from budgetnas.pipeline.pareto import pareto

    objective = CountCost(space, "params_m").quadratic_form()
    cheapest = PeakMemoryCost(space).minimum()
    rows = pareto(space, objective, "peak_kb", [32.0, cheapest, 40.0])
    assert "error" in rows[0]
    assert "peak_kb=32.768" in rows[0]["error"]  # not the form's 89.344
    for row in rows[1:]:
        assert "error" not in row, row
        arch = space.from_string(row["arch"])
        assert PeakMemoryCost(space).evaluate(arch) <= row["limit"] + 1e-9
