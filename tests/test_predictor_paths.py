import numpy as np
import pytest

from budgetnas.predictors.paths import (
    ALPHA_GRID,
    PathRegressionPredictor,
    active_features,
    cv_errors,
    stored_path_samples,
)
from budgetnas.spaces.mobilenet import MAX_DEPTH, MobileNetSpace
from budgetnas.store import Store


@pytest.fixture(scope="module")
def space():
    return MobileNetSpace(preset="tiny")


def _additive_samples(space, n_paths, n_batches, rng, noise=0.0):
    """Samples of a known accuracy: a batch difficulty plus one weight per active decision."""
    w = rng.normal(0, 0.02, size=space.n_binaries)
    offsets = rng.normal(0, 0.1, size=n_batches)
    archs = [space.sample(rng) for _ in range(n_paths)]
    X = active_features(space, archs)
    batch = rng.integers(n_batches, size=n_paths)
    acc = 0.6 + offsets[batch] + X @ w + rng.normal(0, noise, size=n_paths)
    total = np.full(n_paths, 10_000)
    samples = {
        "paths": [list(a.choices) for a in archs],
        "batch": batch.tolist(),
        "correct": np.round(acc * total).astype(int).tolist(),
        "total": total.tolist(),
    }
    return samples, (lambda a: 0.6 + offsets.mean() + active_features(space, a) @ w)


def test_active_features_switch_off_blocks_beyond_the_depth(space):
    X = active_features(space, [space.smallest(), space.heaviest()])
    for s in range(5):
        for b in range(MAX_DEPTH):
            sl = space.group_slice(space.block_group(s, b))
            assert X[0, sl].sum() == (1 if b < 2 else 0)
            assert X[1, sl].sum() == 1
        assert X[:, space.group_slice(space.depth_group(s))].sum() == 2


def test_recovers_an_additive_accuracy_and_its_form_agrees(space):
    rng = np.random.default_rng(0)
    samples, truth = _additive_samples(space, 4000, 20, rng)
    pred = PathRegressionPredictor(alpha=1e-6).fit_samples(space, samples)
    test = [space.sample(rng) for _ in range(200)]
    got, want = pred.predict_archs(test), truth(test)
    # the batch effects average out into the intercept; the rest is the decisions' sum
    np.testing.assert_allclose(got - got.mean(), want - want.mean(), atol=2e-3)
    assert abs(got.mean() - want.mean()) < 0.02
    # the quadratic form is the intercept plus the weights of the active decisions
    X = active_features(space, test)
    np.testing.assert_allclose(got, pred.intercept_ + X @ pred.coef_, atol=1e-12)


def test_weights_from_noisy_samples_are_far_more_precise_than_one_sample(space):
    """3,000 samples with 0.05 of noise each: the summed weights of an architecture come out
    within 0.02."""
    rng = np.random.default_rng(1)
    samples, truth = _additive_samples(space, 3000, 30, rng, noise=0.05)
    pred = PathRegressionPredictor(alpha=1.0).fit_samples(space, samples)
    test = [space.sample(rng) for _ in range(300)]
    err = pred.predict_archs(test) - truth(test)
    assert np.std(err) < 0.02  # against 0.05 per sample and 0.02 per decision weight


def test_stored_samples_come_from_the_fit(space, tmp_path):
    from budgetnas.predictors.binas import STORE_KIND

    store = Store(tmp_path / "s.sqlite")
    rng = np.random.default_rng(2)
    samples, _ = _additive_samples(space, 40, 4, rng)
    half = {k: v[:20] for k, v in samples.items()}
    rest = {k: v[20:] for k, v in samples.items()}
    store.put(STORE_KIND, "fp/A0", {"acc": 0.5, "fixed": {}, **half})
    store.put(STORE_KIND, "fp/g0c1", {"acc": 0.5, "fixed": {"0": 1}, **rest})
    store.put(STORE_KIND, "other/A0", {"acc": 0.5, "fixed": {}, **half})
    got = stored_path_samples(store, "fp")
    assert sorted(map(tuple, got["paths"])) == sorted(map(tuple, samples["paths"]))
    store.put(STORE_KIND, "old/A0", {"acc": 0.5, "fixed": {}})
    with pytest.raises(ValueError, match="no path samples"):
        stored_path_samples(store, "old")
    with pytest.raises(ValueError, match="no stored expectations"):
        stored_path_samples(store, "missing")
    with pytest.raises(RuntimeError, match="not fitted"):
        PathRegressionPredictor().quadratic_form()


def test_cross_validated_penalty_shrinks_noisy_weights_and_spares_clean_ones(space):
    """Few samples, much noise: the penalty chosen by cross-validation predicts the true
    accuracies better than a nearly unpenalized fit. Clean samples: it chooses a small penalty and
    recovers the weights."""
    rng = np.random.default_rng(3)
    noisy, truth = _additive_samples(space, 400, 10, rng, noise=0.05)
    test = [space.sample(rng) for _ in range(300)]
    cv = PathRegressionPredictor().fit_samples(space, noisy)
    raw = PathRegressionPredictor(alpha=1.0).fit_samples(space, noisy)  # the former fixed penalty
    assert cv.alpha_ >= 1e4  # 400 samples x 10,000 images: a penalty that matters
    err_cv = np.std(cv.predict_archs(test) - truth(test))
    err_raw = np.std(raw.predict_archs(test) - truth(test))
    assert err_cv < 0.8 * err_raw
    assert cv.cv_errors_.shape == (len(ALPHA_GRID),)

    clean, truth = _additive_samples(space, 3000, 20, np.random.default_rng(4))
    pred = PathRegressionPredictor().fit_samples(space, clean)
    assert pred.alpha_ <= 1e3
    got, want = pred.predict_archs(test), truth(test)
    np.testing.assert_allclose(got - got.mean(), want - want.mean(), atol=5e-3)


def test_cross_validation_refuses_what_it_cannot_score_and_bad_penalties(space):
    rng = np.random.default_rng(5)
    X = active_features(space, [space.sample(rng) for _ in range(10)])
    y, total = rng.random(10), np.full(10, 100.0)
    with pytest.raises(ValueError, match="several folds"):
        cv_errors(X, y, total, np.arange(10), ALPHA_GRID)  # every path in its own batch
    # __init__ only stores its arguments (scikit-learn's rule): a bad penalty fails at fit
    samples = {"paths": [a.choices for a in map(space.arch, [[0] * len(space.group_sizes)] * 2)]}
    samples.update(batch=[0, 0], correct=[1, 2], total=[4, 4])
    with pytest.raises(ValueError, match="alpha"):
        PathRegressionPredictor(alpha=-1.0).fit_samples(space, samples)
    with pytest.raises(ValueError, match="'auto'"):
        PathRegressionPredictor(alpha="auto").fit_samples(space, samples)
