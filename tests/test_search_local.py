import pytest

from budgetnas.search import create_solver
from budgetnas.testing.problems import random_problem


@pytest.mark.parametrize("seed", range(5))
def test_local_search_is_feasible_and_respects_the_query_budget(seed):
    problem = random_problem(seed)
    result = create_solver("local", n_queries=10, seed=seed).solve(problem)
    assert result.feasible
    assert result.queries <= 10
    assert len({h["arch"] for h in result.history}) == result.queries


@pytest.mark.parametrize("seed", range(5))
def test_local_search_finds_the_optimum_of_a_small_problem(seed):
    problem = random_problem(seed)
    best = create_solver("exhaustive").solve(problem)
    result = create_solver("local", n_queries=40, seed=seed).solve(problem)
    assert result.objective == pytest.approx(best.objective)
