"""The suite every registered solver must pass (as Optuna's ``testing/pytest_samplers.py``).

A new solver is tested the moment it registers: ``tests/test_solvers_suite.py`` parametrizes
these checks over :func:`budgetnas.search.list_solvers`. Solvers that need arguments to be quick
on tiny problems get them from :data:`SUITE_KWARGS`.
"""

from __future__ import annotations

import numpy as np
import pytest

from budgetnas.costs._base import Constraint
from budgetnas.search import InfeasibleBudgetError, create_solver
from budgetnas.search._base import Problem
from budgetnas.testing.problems import brute_force, random_problem
from budgetnas.units import Budget

__all__ = [
    "ALL_CHECKS",
    "EXACT",
    "SUITE_KWARGS",
    "check_feasible_on_random_problems",
    "check_infeasible_budget_raises",
    "check_jointly_infeasible_raises",
    "check_several_budgets",
    "make",
]

SUITE_KWARGS: dict[str, dict] = {
    "random": {"n_queries": 8},
    "evolution": {"n_queries": 8, "population": 4, "sample_size": 2},
    "optuna": {"n_queries": 8, "population": 4},
    "iqnas": {"n_queries": 8, "n_init": 3},
    "interleaved": {"n_queries": 8, "n_init": 3},
    "tpe": {"n_queries": 8, "n_startup": 3},
    "gp": {"n_queries": 8, "n_startup": 3},
    "bananas": {"n_queries": 8, "n_init": 3, "epochs": 30},
    "frank-wolfe": {"steps": 60},
    "hardcore": {"steps": 60},
    "milp": {"time_limit": 20.0},
}
EXACT = {"milp", "exhaustive"}


def make(name: str):
    return create_solver(name, **SUITE_KWARGS.get(name, {}))


def check_feasible_on_random_problems(name: str, seeds=range(4)) -> None:
    for seed in seeds:
        problem = random_problem(seed)
        result = make(name).solve(problem)
        assert result.feasible, (name, seed, result.budgets)
        for b, c in zip(result.budgets, problem.constraints, strict=True):
            assert b.metric == c.budget.metric
            assert b.value == pytest.approx(c.value(result.arch))
            assert b.slack >= -1e-9
        assert result.solver == name
        assert result.wall_s >= 0
        best, _ = brute_force(problem)
        assert result.predicted is not None and result.predicted <= best + 1e-6
        if name in EXACT:
            assert result.predicted == pytest.approx(best, abs=1e-6)


def check_several_budgets(name: str) -> None:
    for seed in range(3):
        problem = random_problem(100 + seed, n_budgets=3, quantile=0.5)
        result = make(name).solve(problem)
        assert len(result.budgets) == 3
        assert all(c.feasible(result.arch) for c in problem.constraints)


def check_infeasible_budget_raises(name: str) -> None:
    problem = random_problem(7)
    space = problem.space
    c0 = problem.constraints[0]
    values = [c0.value(a) for a in space.enumerate()]
    tight = Constraint(Budget(c0.budget.metric, min(values) * 0.9), c0.cost)
    bad = Problem(space, [tight, problem.constraints[1]], problem.objective, problem.query)
    with pytest.raises(InfeasibleBudgetError, match="cheapest") as info:
        make(name).solve(bad)
    assert f"{min(values):.6g}" in str(info.value)


def check_jointly_infeasible_raises(name: str) -> None:
    problem = random_problem(11)
    space = problem.space
    archs = list(space.enumerate())
    a, b = problem.constraints
    va = np.array([a.value(x) for x in archs])
    vb = np.array([b.value(x) for x in archs])
    # each budget alone admits its cheapest architecture, but no architecture meets both
    la = va.min() * (1 + 1e-6)
    lb_candidates = sorted(set(vb))
    lb = None
    for v in lb_candidates:
        if not np.any((va <= la) & (vb <= v)) and np.any(vb <= v):
            lb = v
    if lb is None:
        pytest.skip("this random problem has a jointly cheapest architecture")
    bad = Problem(
        space,
        [
            Constraint(Budget(a.budget.metric, la), a.cost),
            Constraint(Budget(b.budget.metric, lb), b.cost),
        ],
        problem.objective,
        problem.query,
    )
    with pytest.raises(InfeasibleBudgetError, match="at once"):
        make(name).solve(bad)


ALL_CHECKS = [
    check_feasible_on_random_problems,
    check_several_budgets,
    check_infeasible_budget_raises,
    check_jointly_infeasible_raises,
]
