import itertools

import numpy as np
import pytest

from budgetnas.costs import QuadraticForm
from budgetnas.spaces.toy import ToySpace
from budgetnas.testing.problems import random_form


def test_value_at_product_distribution_is_expectation():
    space = ToySpace((2, 3, 2))
    rng = np.random.default_rng(0)
    form = random_form(space, rng, pair_density=1.0)
    probs = [rng.dirichlet(np.ones(s)) for s in space.group_sizes]
    x = np.concatenate(probs)
    expected = 0.0
    for choices in itertools.product(*(range(s) for s in space.group_sizes)):
        p = np.prod([probs[g][c] for g, c in enumerate(choices)])
        expected += p * form.value(space.encode(space.arch(choices)))
    assert form.value(x) == pytest.approx(expected)


def test_gradient_and_block_linearity():
    space = ToySpace((3, 3, 3))
    rng = np.random.default_rng(1)
    form = random_form(space, rng, pair_density=1.0)
    x = rng.uniform(size=space.n_binaries)
    g = form.gradient(x)
    eps = 1e-6
    for k in range(space.n_binaries):
        e = np.zeros_like(x)
        e[k] = eps
        assert g[k] == pytest.approx((form.value(x + e) - form.value(x - e)) / (2 * eps), abs=1e-6)
    block = np.arange(3)  # group 0: no pair inside
    const, coef = form.linear_in(x, block)
    y = x.copy()
    y[block] = rng.uniform(size=3)
    assert form.value(y) == pytest.approx(const + coef @ y[block])
    with pytest.raises(ValueError, match="inside the block"):
        form.linear_in(x, np.arange(6))


def test_values_add_merge_scale():
    a = QuadraticForm(1.0, np.array([1.0, 2.0, 3.0]), [0], [2], [4.0])
    b = QuadraticForm(0.5, np.array([0.0, 1.0, 0.0]), [2], [0], [1.0])
    s = a + b
    assert s.pair_w.tolist() == [5.0]
    X = np.array([[1, 0, 1], [0, 1, 0]], float)
    np.testing.assert_allclose(
        s.values(X), [a.value(X[0]) + b.value(X[0]), a.value(X[1]) + b.value(X[1])]
    )
    np.testing.assert_allclose(a.scaled(2.0, 1.0).values(X), 2 * a.values(X) + 1)
    with pytest.raises(ValueError):
        QuadraticForm(0.0, np.zeros(2), [1], [1], [1.0])
