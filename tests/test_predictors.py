import numpy as np
import pytest

from budgetnas.predictors import ContributionPredictor, RidgePredictor
from budgetnas.spaces.table import pair_indices
from budgetnas.spaces.toy import ToySpace


def _data(seed=0, n=400):
    space = ToySpace((3, 4, 2))
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    return space, space.encode_many(archs), rng


def test_contributions_follow_the_definition():
    space, X, rng = _data()
    y = rng.normal(size=len(X))
    p = ContributionPredictor(shrinkage=0.0).fit(X, y)
    assert p.intercept_ == pytest.approx(y.mean())
    for i in range(space.n_binaries):
        assert p.coef_[i] == pytest.approx(y[X[:, i] == 1].mean() - y.mean())
    shrunk = ContributionPredictor(shrinkage=10.0).fit(X, y)
    assert np.all(np.abs(shrunk.coef_) <= np.abs(p.coef_) + 1e-12)
    np.testing.assert_allclose(p.predict(X), p.intercept_ + X @ p.coef_)


def test_contributions_recover_an_additive_truth():
    space, X, rng = _data(n=4000)
    w = rng.normal(size=space.n_binaries)
    y = X @ w
    p = ContributionPredictor(shrinkage=0.0).fit(X, y)
    # with independent uniform decisions, beyond-average contributions are w minus group means
    for g in range(space.n_groups):
        sl = space.group_slice(g)
        np.testing.assert_allclose(p.coef_[sl], w[sl] - w[sl].mean(), atol=0.15)


def test_ridge_recovers_planted_pairwise_form():
    space, X, rng = _data(n=600)
    pi, pj = pair_indices(space)
    w = rng.normal(size=space.n_binaries)
    v = rng.normal(size=pi.size)
    y = 2.0 + X @ w + (X[:, pi] * X[:, pj]) @ v
    p = RidgePredictor(alpha=1e-6, pairs=(pi, pj)).fit(X, y)
    np.testing.assert_allclose(p.predict(X), y, atol=1e-3)
    form = p.quadratic_form()
    assert form.has_pairs
    np.testing.assert_allclose(form.values(X), y, atol=1e-3)
    first = RidgePredictor(alpha=1e-6).fit(X, y)
    assert np.abs(first.predict(X) - y).max() > 0.1  # pairwise truth needs pair terms


def test_sklearn_conventions():
    p = RidgePredictor(alpha=2.0)
    assert p.get_params() == {"alpha": 2.0, "pairs": None, "pair_alpha": None}
    assert not hasattr(p, "coef_")
    with pytest.raises(RuntimeError, match="not fitted"):
        p.predict(np.zeros((1, 3)))
    _, X, rng = _data(n=50)
    assert p.fit(X, rng.normal(size=50)) is p
    with pytest.raises(ValueError, match="rows"):
        p.fit(X, np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        ContributionPredictor().fit(X, np.full(50, np.nan))
