"""Every cost model must pass the reusable suite (budgetnas.testing.pytest_costs).

Registered costs are built through :func:`budgetnas.costs.resolve_cost` on the tiny MobileNetV3
preset; latency and energy come from small synthetic tables, so nothing is measured.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from budgetnas.costs import FormCost, FunctionCost, list_costs, resolve_cost
from budgetnas.costs.fingerprint import current_fingerprint
from budgetnas.costs.latency import Measurement
from budgetnas.costs.table import CostTable, distinct_descriptors
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.spaces.table import ColumnCost, Table
from budgetnas.spaces.toy import ToySpace
from budgetnas.testing.problems import random_form
from budgetnas.testing.pytest_costs import ALL_CHECKS


def synthetic_table(space: MobileNetSpace, metric: str, seed: int = 0) -> CostTable:
    """Entries roughly proportional to MACs, as a measured table would be."""
    rng = np.random.default_rng(seed)
    entries = {}
    for key, d in distinct_descriptors(space).items():
        med = 0.02 + d.macs * 1e-6 * rng.uniform(0.8, 1.2)
        entries[key] = Measurement(med, med * 0.95, med * 1.1, med * 0.9, med * 1.5, 10, 3)
    parts = {
        "stem": Measurement(0.1, 0.09, 0.11, 0.08, 0.2, 10),
        "head": Measurement(0.05, 0.04, 0.06, 0.03, 0.1, 10),
    }
    fp = current_fingerprint(space, metric=metric)
    return CostTable(fp, entries, t0=0.15, t0_parts=parts)


@cache
def mobilenet() -> MobileNetSpace:
    return MobileNetSpace(preset="tiny")


@cache
def toy() -> ToySpace:
    return ToySpace(sizes=(3, 4, 2, 3))


def _peak_limited():
    space = mobilenet()
    free = resolve_cost("peak_kb", space)
    peaks = [free.evaluate(space.sample(s)) for s in range(40)]
    return resolve_cost("peak_kb", space, limit=float(np.median(peaks)))


def _corrected_latency():
    table = synthetic_table(mobilenet(), "latency_ms", seed=1)
    table.set_correction(1.1, 0.05)
    return resolve_cost("latency_ms", mobilenet(), table=table, corrected=True)


def _toy_table(column: str, pairwise: bool = True):
    space = toy()
    archs = list(space.all_archs())
    X = space.encode_many(archs)
    rng = np.random.default_rng(3)
    additive = 1.0 + X @ rng.uniform(0.1, 1.0, space.n_binaries)
    bumpy = additive + rng.uniform(0.0, 0.3, len(archs))  # not additive: residual bounds
    table = Table(space, archs, {"a_ms": additive, "b_ms": bumpy})
    return ColumnCost(table, column, "latency_ms", pairwise=pairwise)


def _form_cost():
    space = toy()
    form = random_form(space, np.random.default_rng(4), positive=True, const=0.5)
    return FormCost("energy_mj", form, space)


def _function_cost():
    return FunctionCost("params_m", lambda a: 1.0 + sum(a.choices))


# (case id) -> (space, cost model factory); the id starts with the registered name it covers
CASES = {
    "params_m": (mobilenet, lambda: resolve_cost("params_m", mobilenet())),
    "macs_m": (mobilenet, lambda: resolve_cost("macs_m", mobilenet())),
    "flops_m": (mobilenet, lambda: resolve_cost("flops_m", mobilenet())),
    "peak_kb": (mobilenet, lambda: resolve_cost("peak_kb", mobilenet())),
    "peak_kb-limit": (mobilenet, _peak_limited),
    "latency_ms": (
        mobilenet,
        lambda: resolve_cost(
            "latency_ms", mobilenet(), table=synthetic_table(mobilenet(), "latency_ms")
        ),
    ),
    "latency_ms-corrected": (mobilenet, _corrected_latency),
    "latency_ms-min": (
        mobilenet,
        lambda: resolve_cost(
            "latency_ms", mobilenet(), table=synthetic_table(mobilenet(), "latency_ms"), stat="min"
        ),
    ),
    "energy_mj": (
        mobilenet,
        lambda: resolve_cost(
            "energy_mj", mobilenet(), table=synthetic_table(mobilenet(), "energy_mj", seed=2)
        ),
    ),
    "table-additive": (toy, lambda: _toy_table("a_ms")),
    "table-pairwise": (toy, lambda: _toy_table("b_ms")),
    "table-first-order": (toy, lambda: _toy_table("b_ms", pairwise=False)),
    "form-cost": (toy, _form_cost),
    "function-cost": (toy, _function_cost),
}


@cache
def built(case: str):
    space, factory = CASES[case]
    return factory(), space()


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", sorted(CASES))
def test_cost_model(case, check):
    check(*built(case))


def test_every_registered_cost_has_a_case():
    assert set(list_costs()) <= {case.split("-")[0] for case in CASES}
    assert {"params_m", "macs_m", "flops_m", "peak_kb", "latency_ms", "energy_mj"} <= set(
        list_costs()
    )


def test_inexact_cases_are_inexact():
    # the suite's residual-bound branch must run on something
    for case in ("peak_kb-limit", "table-pairwise", "table-first-order"):
        cost, _ = built(case)
        assert cost.quadratic_form() is not None and not cost.exact_form, case
