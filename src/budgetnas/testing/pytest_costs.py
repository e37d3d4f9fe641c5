"""The suite every cost model must pass (the contract of :class:`~budgetnas.costs.CostModel`).

``tests/test_costs_suite.py`` runs these checks on a model of every cost registered in
:mod:`budgetnas.costs.registry` (latency and energy from small synthetic tables, so nothing is
measured) and on the other cost models of the package. Each check takes the model and the space
it prices.

The residual bounds of a model with a ``limit`` (peak memory: the form stands for the per-block
constraints of that limit) are checked on the architectures within the limit, the only ones
the solvers rely on them for; elsewhere they hold for every architecture.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgetnas.arch import Architecture
from budgetnas.costs import Constraint, CostModel, QuadraticForm
from budgetnas.spaces import SearchSpace
from budgetnas.testing.pytest_spaces import suite_archs
from budgetnas.units import Budget

__all__ = [
    "ALL_CHECKS",
    "REL_TOL",
    "check_constraint",
    "check_evaluate_finite_nonnegative",
    "check_evaluate_many",
    "check_form_agrees",
    "check_form_shape",
    "check_metric",
    "check_residual_bounds",
]

#: relative agreement of an exact form with ``evaluate``
REL_TOL = 1e-9


def _archs(space: SearchSpace) -> list[Architecture]:
    if space.size <= 2_000:
        return list(space.all_archs())
    return suite_archs(space, n=40, seed=5)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def check_metric(cost: CostModel, space: SearchSpace) -> None:
    """The metric is a canonical name of :mod:`budgetnas.units` (``latency_ms``, ``params_m``...)."""
    from budgetnas.costs.registry import canonical_metric

    assert isinstance(cost.metric, str) and cost.metric
    assert canonical_metric(cost.metric) == cost.metric


def check_evaluate_finite_nonnegative(cost: CostModel, space: SearchSpace) -> None:
    """``evaluate`` returns a finite float >= 0, the same one every time."""
    for arch in _archs(space):
        value = cost.evaluate(arch)
        assert isinstance(value, float), (type(value), arch)
        assert math.isfinite(value) and value >= 0, (value, str(arch))
        assert cost.evaluate(arch) == value


def check_evaluate_many(cost: CostModel, space: SearchSpace) -> None:
    """Where a model has ``evaluate_many``, it agrees with ``evaluate`` architecture by architecture."""
    many = getattr(cost, "evaluate_many", None)
    if many is None:
        pytest.skip(f"{type(cost).__name__} has no evaluate_many")
    archs = _archs(space)
    values = np.asarray(many(archs), dtype=float)
    assert values.shape == (len(archs),)
    for arch, v in zip(archs, values, strict=True):
        assert _close(float(v), cost.evaluate(arch)), (str(arch), float(v), cost.evaluate(arch))


def check_residual_bounds(cost: CostModel, space: SearchSpace) -> None:
    """The residual bounds are finite and ordered; ``exact_form`` means both are 0."""
    lo, hi = cost.residual_min, cost.residual_max
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi, (lo, hi)
    assert cost.exact_form == (lo == 0.0 and hi == 0.0)
    if cost.quadratic_form() is None:
        assert cost.exact_form, "a model without a form has nothing for its bounds to bound"


def check_form_shape(cost: CostModel, space: SearchSpace) -> None:
    """A form is a :class:`QuadraticForm` over the space's binaries, its products across groups
    (so its value at a product of distributions is the expected cost)."""
    form = cost.quadratic_form()
    if form is None:
        pytest.skip(f"{type(cost).__name__} ({cost.metric}) has no form here")
    assert isinstance(form, QuadraticForm)
    assert form.n == space.n_binaries
    assert math.isfinite(form.const) and np.all(np.isfinite(form.linear))
    assert np.all(np.isfinite(form.pair_w))
    g = space.group_of
    assert np.all(g[form.pair_i] != g[form.pair_j]), "a product inside one one-hot group"


def check_form_agrees(cost: CostModel, space: SearchSpace) -> None:
    """Exact forms equal ``evaluate`` (to 1e-9 relative); others stay within the residual bounds."""
    form = cost.quadratic_form()
    if form is None:
        pytest.skip(f"{type(cost).__name__} ({cost.metric}) has no form here")
    archs = _archs(space)
    values = np.array([cost.evaluate(a) for a in archs])
    predicted = form.values(space.encode_many(archs))
    if cost.exact_form:
        for arch, v, p in zip(archs, values, predicted, strict=True):
            assert _close(v, p), (str(arch), v, p)
        return
    limit = getattr(cost, "limit", None)
    inside = values <= limit if limit is not None else np.ones(len(archs), dtype=bool)
    resid = values[inside] - predicted[inside]
    pad = REL_TOL * max(1.0, float(np.abs(values).max()))
    assert np.all(resid >= cost.residual_min - pad), (resid.min(), cost.residual_min)
    assert np.all(resid <= cost.residual_max + pad), (resid.max(), cost.residual_max)
    if limit is not None:
        # the form stands for the limit's constraints: within budget exactly when the cost is
        assert np.array_equal(predicted + cost.residual_min <= limit + pad, inside)


def check_constraint(cost: CostModel, space: SearchSpace) -> None:
    """A budget at an architecture's own cost admits it with zero violation; below it, not."""
    for arch in _archs(space)[:8]:
        value = cost.evaluate(arch)
        if value <= 0:
            continue
        c = Constraint(Budget(cost.metric, value), cost)
        assert c.feasible(arch) and abs(c.violation(arch)) <= REL_TOL * max(1.0, value)
        tight = Constraint(Budget(cost.metric, value * 0.9), cost)
        assert not tight.feasible(arch)


ALL_CHECKS = [
    check_metric,
    check_evaluate_finite_nonnegative,
    check_evaluate_many,
    check_residual_bounds,
    check_form_shape,
    check_form_agrees,
    check_constraint,
]
