import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetnas.costs import Constraint, FunctionCost
from budgetnas.search import InfeasibleBudgetError, Problem, SolverFailedError, create_solver
from budgetnas.testing.problems import brute_force, random_problem


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    n_budgets=st.integers(0, 2),
    quantile=st.floats(0.05, 0.9),
)
def test_milp_equals_brute_force(seed, sizes, n_budgets, quantile):
    problem = random_problem(seed, sizes=tuple(sizes), n_budgets=n_budgets, quantile=quantile)
    best, optimal = brute_force(problem)
    if not optimal:  # budgets jointly infeasible: the solver must say so, not answer
        with pytest.raises(InfeasibleBudgetError, match="at once"):
            create_solver("milp").solve(problem)
        return
    result = create_solver("milp").solve(problem)
    assert result.status == "optimal"
    assert result.predicted == pytest.approx(best, abs=1e-6)
    assert result.arch in optimal
    assert result.gap is not None and result.gap <= 1e-4


def test_no_good_cuts_exclude_architectures():
    problem = random_problem(3)
    space = problem.space
    solver = create_solver("milp")
    seen = []
    feasible = [a for a in space.enumerate() if problem.feasible(a)]
    for _ in range(len(feasible)):
        r = solver.solve(problem)
        assert r.arch not in seen
        seen.append(r.arch)
        solver.exclude.add(r.arch)
    values = [problem.objective.value(space.encode(a)) for a in seen]
    assert values == sorted(values, reverse=True)  # k-th solve = k-th best
    assert set(seen) == set(feasible)
    with pytest.raises(SolverFailedError, match="no architecture is left"):
        solver.solve(problem)


def test_lazy_cuts_handle_costs_that_the_form_only_bounds():
    """A cost = form + a bounded non-additive bump: the MILP uses the lower bound and
    rejects over-budget answers with exact checks, ending at the true constrained optimum."""
    base = random_problem(5, n_budgets=1)
    space = base.space
    c = base.constraints[0]
    form = c.cost.quadratic_form()
    rng = np.random.default_rng(0)
    bump = {a: float(rng.uniform(-0.3, 0.3)) for a in space.enumerate()}

    def exact(arch):
        return form.value(space.encode(arch)) + bump[arch]

    cost = FunctionCost(c.budget.metric, exact, form, residual=(-0.3, 0.3))
    problem = Problem(space, [Constraint(c.budget, cost)], objective=base.objective)
    best, _ = brute_force(problem)
    result = create_solver("milp").solve(problem)
    assert result.predicted == pytest.approx(best)
    assert result.feasible


def test_milp_needs_forms():
    problem = random_problem(1)
    q = Problem(problem.space, problem.constraints, query=problem.query)
    with pytest.raises(ValueError, match="objective form"):
        create_solver("milp").solve(q)


def test_bench_milp_times_the_nb201_program(tmp_path):
    import json
    import os
    from pathlib import Path

    from budgetnas.bench._base import BENCHMARKS
    from budgetnas.bench.milp import MilpBenchConfig
    from budgetnas.config import resolve

    root = os.environ.get("BUDGETNAS_DATA")
    if not root or not (Path(root) / "nb201" / "nb201_cifar10.csv").is_file():
        pytest.skip("NAS-Bench-201 table not available")
    bench = BENCHMARKS.create("milp")
    out = tmp_path / "milp.json"
    cfg = resolve(
        MilpBenchConfig,
        {"cost": ["lat_fpga_ms"], "budget_quantiles": ["0.5"], "repeats": 1, "json_out": str(out)},
    )
    result = bench.run(cfg)
    (row,) = json.loads(out.read_text())["rows"]
    assert row == result.rows[0] and row["cost"] == "lat_fpga_ms" and row["quantile"] == 0.5
    assert row["optimal"] == 1.0 and row["agrees_with_enumeration"] == 1.0
    assert "median over all budgets" in bench.summary(result)
