import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from budgetnas.pruning.knapsack import knapsack_dp, knapsack_greedy, knapsack_milp, solve_knapsack


def brute_force(values, costs, capacity):
    best = 0.0
    for bits in itertools.product([0, 1], repeat=len(values)):
        x = np.array(bits, dtype=bool)
        if costs[x].sum() <= capacity + 1e-9:
            best = max(best, float(values[x].sum()))
    return best


items = st.lists(st.tuples(st.floats(0.0, 10.0), st.integers(0, 12)), min_size=0, max_size=9)


@settings(max_examples=60, deadline=None)
@given(items, st.integers(0, 40))
def test_dp_equals_brute_force(pairs, capacity):
    values = np.array([p[0] for p in pairs], dtype=float)
    costs = np.array([p[1] for p in pairs], dtype=np.int64)
    take = knapsack_dp(values, costs, capacity)
    assert costs[take].sum() <= capacity
    assert values[take].sum() == pytest.approx(brute_force(values, costs, capacity), abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.01, 5.0)), min_size=1, max_size=8),
    st.floats(0.0, 15.0),
)
def test_milp_equals_brute_force_on_real_costs(pairs, capacity):
    values = np.array([p[0] for p in pairs])
    costs = np.array([p[1] for p in pairs])
    take = knapsack_milp(values, costs, capacity)
    assert costs[take].sum() <= capacity + 1e-9
    assert values[take].sum() == pytest.approx(brute_force(values, costs, capacity), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 5.0)), min_size=1, max_size=8),
    st.floats(0.0, 15.0),
    st.sampled_from(["dp", "greedy", "milp"]),
)
@example([(0.0, 1.0)], 2.1667915855050104e-171, "dp")  # huge scale overflowed int64
@example([(0.0, 0.0)], 1.1125369292536007e-308, "dp")  # scale overflowed to inf
def test_every_method_is_feasible_and_dp_near_optimal(pairs, capacity, method):
    values = np.array([p[0] for p in pairs])
    costs = np.array([p[1] for p in pairs])
    take = solve_knapsack(values, costs, capacity, method)
    assert costs[take].sum() <= capacity + 1e-9
    assert values[take].sum() <= brute_force(values, costs, capacity) + 1e-6


def test_greedy_is_not_exact_where_dp_is():
    values, costs = np.array([6.0, 10.0, 12.0]), np.array([1, 2, 3])
    assert values[knapsack_dp(values, costs, 5)].sum() == 22.0
    assert values[knapsack_greedy(values, costs.astype(float), 5)].sum() == 16.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="integer"):
        knapsack_dp(np.ones(2), np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match="unknown knapsack method"):
        solve_knapsack(np.ones(2), np.ones(2), 1.0, "nope")
