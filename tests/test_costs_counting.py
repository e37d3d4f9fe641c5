"""Analytic costs: counts equal the extracted networks', the bilinear form equals the table sum
and the expectation, peak memory as per-block constraints, the registry, MILP under budgets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from budgetnas.costs import constraint, list_costs, resolve_cost
from budgetnas.costs.counting import (
    CountCost,
    PeakMemoryCost,
    block_form,
    block_peak_elements,
    table_sum,
)
from budgetnas.forms import QuadraticForm
from budgetnas.search import Problem, create_solver
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.supernet import MobileNetSupernet, extract

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return MobileNetSpace(preset="tiny")


@pytest.fixture(scope="module")
def supernet(space):
    return MobileNetSupernet(space).eval()


def test_counts_equal_extracted_networks(space, supernet):
    params, macs, flops = (CountCost(space, m) for m in ("params_m", "macs_m", "flops_m"))
    x = torch.randn(1, 3, 16, 16)
    rng = np.random.default_rng(1)
    archs = [space.heaviest(), space.smallest()] + [space.sample(rng) for _ in range(3)]
    for arch in archs:
        child = extract(supernet, arch).eval()
        n_params = sum(p.numel() for p in child.parameters())
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            child(x)
        e = space.encode(arch)
        assert params.evaluate(arch) * 1e6 == pytest.approx(n_params, abs=1e-6)
        assert params.quadratic_form().value(e) * 1e6 == pytest.approx(n_params, abs=1e-6)
        assert flops.quadratic_form().value(e) * 1e6 == pytest.approx(
            counter.get_total_flops(), abs=1e-6
        )
        assert macs.quadratic_form().value(e) * 2 == pytest.approx(flops.evaluate(arch), rel=1e-12)
    values = params.evaluate_many(archs)
    assert np.allclose(values, [params.evaluate(a) for a in archs], rtol=0, atol=1e-12)


def test_form_one_hot_is_table_sum_and_relaxed_is_expectation(space):
    rng = np.random.default_rng(0)
    table = rng.uniform(0.5, 2.0, size=(5, 4, 12))
    form = block_form(space, table, const=3.0)
    for _ in range(20):
        arch = space.sample(rng)
        assert form.value(space.encode(arch)) == pytest.approx(3.0 + table_sum(space, table, arch))
    # a product distribution over a few free groups: the form equals the exact expectation
    base = space.sample(rng)
    free = [
        space.block_group(1, 2),
        space.block_group(1, 3),
        space.depth_group(1),
        space.block_group(3, 0),
    ]
    probs = {}
    for g in free:
        p = rng.dirichlet(np.ones(space.group_sizes[g]))
        probs[g] = p
    x = space.encode(base)
    for g, p in probs.items():
        x[space.group_slice(g)] = p
    expected = 0.0
    for combo in itertools.product(*(range(space.group_sizes[g]) for g in free)):
        choices = list(base.choices)
        w = 1.0
        for g, c in zip(free, combo, strict=True):
            choices[g] = c
            w *= probs[g][c]
        from budgetnas.arch import Architecture

        arch = Architecture(space.name, tuple(choices))  # not canonicalized: inactive blocks vary
        expected += w * (3.0 + table_sum(space, table, space.canonicalize(arch)))
    assert form.value(x) == pytest.approx(expected, rel=1e-12)


def test_block_peak_matches_tensor_sizes_of_extracted_blocks(space, supernet):
    arch = space.sample(3)
    child = extract(supernet, arch).eval()
    sizes = {}

    def hook(name):
        def f(_m, inp, out):
            sizes[name] = (inp[0].numel(), out.numel())

        return f

    handles = []
    for si, stage in enumerate(child.stages):
        for bi, blk in enumerate(stage):
            for part in ("expand", "dw", "proj"):
                handles.append(getattr(blk, part).register_forward_hook(hook((si, bi, part))))
    with torch.no_grad():
        child(torch.randn(1, 3, 16, 16))
    for h in handles:
        h.remove()
    for si, stage in enumerate(child.stages):
        for bi, blk in enumerate(stage):
            d = blk.descriptor
            x, e = sizes[(si, bi, "expand")]
            _, dw = sizes[(si, bi, "dw")]
            _, y = sizes[(si, bi, "proj")]
            keep = x if d.residual else 0
            steps = [x + e, e + dw + keep, dw + y + keep]
            steps += [2 * dw + keep] if d.c_se else []
            steps += [x + 2 * y] if d.residual else []
            assert block_peak_elements(d) == max(steps)


def test_peak_form_is_exact_on_the_budget(space):
    rng = np.random.default_rng(2)
    archs = [space.sample(rng) for _ in range(200)] + [space.smallest(), space.heaviest()]
    plain = PeakMemoryCost(space)
    assert plain.quadratic_form() is None
    peaks = np.array([plain.evaluate(a) for a in archs])
    for limit in np.quantile(peaks, [0.0, 0.2, 0.5, 0.9]):
        cost = PeakMemoryCost(space, limit=float(limit))
        form = cost.quadratic_form()
        for a, p in zip(archs, peaks, strict=True):
            v = form.value(space.encode(a))
            assert (v <= limit) == (p <= limit)
            if p <= limit:  # residual bounds hold on the feasible set
                assert cost.residual_min <= p - v <= cost.residual_max
        assert all(plain.table[s - 1, b - 1].max() > limit for s, b, _ in cost.excluded()[:1])


def test_registry_resolves_by_name(space):
    assert {"latency_ms", "energy_mj", "params_m", "macs_m", "flops_m", "peak_kb"} <= set(
        list_costs()
    )
    assert resolve_cost("params_k", space).metric == "params_m"  # any unit of the family
    assert constraint("flops_m<=2", space).cost.metric == "flops_m"
    assert constraint("peak_kb<=40", space).cost.limit == 40.0
    with pytest.raises(ValueError, match="unknown metric"):
        resolve_cost("speed_ms", space)
    with pytest.raises(ValueError, match="needs a measured table"):
        resolve_cost("latency_ms", space)
    with pytest.raises(ValueError, match="relative"):
        resolve_cost("params_ratio", space)
    from budgetnas.spaces import get_space

    with pytest.raises(ValueError, match="no params_m model"):
        resolve_cost("params_m", get_space("nb201"))


def _objective(space, seed=0) -> QuadraticForm:
    rng = np.random.default_rng(seed)
    return QuadraticForm(0.0, rng.normal(size=space.n_binaries))


def test_milp_with_params_and_peak_budgets(space):
    params = CountCost(space, "params_m")
    lo, hi = params.evaluate(space.smallest()), params.evaluate(space.heaviest())
    peak_all = PeakMemoryCost(space)
    p_lo, p_hi = peak_all.evaluate(space.smallest()), peak_all.evaluate(space.heaviest())
    budgets = [f"params_m<={(lo + hi) / 2}", f"peak_kb<={(p_lo + p_hi) / 2}"]
    cons = [constraint(b, space) for b in budgets]
    res = create_solver("milp", time_limit=60).solve(
        Problem(space, cons, objective=_objective(space))
    )
    arch = res.arch
    assert space.count_params(arch) / 1e6 <= (lo + hi) / 2 + 1e-12
    assert peak_all.evaluate(arch) <= (p_lo + p_hi) / 2
