"""The suite every registered predictor must pass (scikit-learn's estimator rules).

A new predictor is tested the moment it registers: ``tests/test_predictors_suite.py`` parametrizes
these checks over :func:`budgetnas.predictors.list_predictors`. Sample predictors
(:class:`~budgetnas.predictors.SamplePredictor`) are fitted on random architectures of the tiny
space with an additive target; supernet predictors
(:class:`~budgetnas.predictors.SupernetPredictor`) on an untrained tiny supernet's evaluator,
every expectation kept in one store in memory, so that only the first fit evaluates.
Predictors that need arguments get them from :data:`SUITE_KWARGS`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest

from budgetnas.predictors import NotFittedError, SupernetPredictor, create_predictor

__all__ = [
    "ALL_CHECKS",
    "SUITE_KWARGS",
    "check_fit_returns_self_and_fitted_attributes_end_in_underscore",
    "check_get_params_round_trip",
    "check_init_only_stores_arguments",
    "check_quadratic_form_agrees_with_predict",
    "check_unfitted_use_raises",
    "fit",
    "make",
    "tiny_problem",
]

SUITE_KWARGS: dict[str, dict] = {
    "ridge": {"alpha": 1e-3},
    "contributions": {"shrinkage": 0.5},
    "paths": {"alpha": 10.0},
}


@functools.cache
def tiny_problem() -> SimpleNamespace:
    """The tiny space, samples ``X, y`` of an additive target, archs to predict, an evaluator of
    an untrained tiny supernet (one held-out batch of 8 synthetic images) and a store."""
    import torch

    from budgetnas.data import get_dataset, make_loader
    from budgetnas.predictors.evaluator import SupernetEvaluator
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.store import Store
    from budgetnas.supernet import MobileNetSupernet

    space = MobileNetSpace(preset="tiny")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    X = space.encode_many(archs).astype(float)
    y = 0.5 + X @ rng.normal(0, 0.01, size=space.n_binaries)
    torch.manual_seed(0)
    net = MobileNetSupernet(space).eval()
    recal = list(make_loader(get_dataset("synthetic", "search-train", subset=8), 8, False))
    held = list(make_loader(get_dataset("synthetic", "heldout", subset=8), 8, False))
    ev = SupernetEvaluator(net, recal, held, bn_batches=1, seed=0)
    test = [space.sample(rng) for _ in range(8)]
    return SimpleNamespace(space=space, X=X, y=y, evaluator=ev, store=Store(":memory:"), test=test)


def make(name: str):
    """The predictor ``name`` with its suite arguments (and the suite's store, if it takes one)."""
    import inspect

    from budgetnas.predictors import PREDICTORS

    kwargs = dict(SUITE_KWARGS.get(name, {}))
    if "store" in inspect.signature(PREDICTORS.get(name)).parameters:
        kwargs["store"] = tiny_problem().store
    return create_predictor(name, **kwargs)


def fit(pred):
    """``pred`` fitted by its protocol on :func:`tiny_problem`; returns what ``fit`` returned."""
    p = tiny_problem()
    if isinstance(pred, SupernetPredictor):
        return pred.fit(p.evaluator)
    return pred.fit(p.X, p.y)


def check_init_only_stores_arguments(name: str) -> None:
    pred = make(name)
    params = pred.get_params()
    assert set(vars(pred)) == set(params), (name, sorted(vars(pred)))
    assert not pred.is_fitted()


def check_fit_returns_self_and_fitted_attributes_end_in_underscore(name: str) -> None:
    pred = make(name)
    before = dict(vars(pred))
    assert fit(pred) is pred
    added = set(vars(pred)) - set(before)
    assert added and all(k.endswith("_") for k in added), (name, sorted(added))
    assert all(vars(pred)[k] is v for k, v in before.items()), "fit changed an argument"
    assert pred.is_fitted()


def check_unfitted_use_raises(name: str) -> None:
    pred = make(name)
    X = tiny_problem().X
    for use in (pred.quadratic_form, lambda: pred.predict(X)):
        with pytest.raises(NotFittedError, match=f"{type(pred).__name__} is not fitted; call fit"):
            use()


def check_quadratic_form_agrees_with_predict(name: str) -> None:
    p = tiny_problem()
    pred = fit(make(name))
    X = p.space.encode_many(p.test).astype(float)
    np.testing.assert_allclose(pred.predict(X), pred.quadratic_form().values(X), rtol=0, atol=0)
    assert pred.predict(X).shape == (len(p.test),)
    np.testing.assert_allclose(pred.predict_archs(p.test, space=p.space), pred.predict(X))
    assert np.all(np.isfinite(pred.predict(X)))


def check_get_params_round_trip(name: str) -> None:
    pred = make(name)
    clone = type(pred)(**pred.get_params())
    assert clone.get_params().keys() == pred.get_params().keys()
    assert all(clone.get_params()[k] is v for k, v in pred.get_params().items())
    assert repr(clone) == repr(pred)
    # an unfitted copy of a fitted predictor fits to the same form
    fitted = fit(make(name))
    again = fit(type(fitted)(**fitted.get_params()))
    np.testing.assert_array_equal(again.quadratic_form().linear, fitted.quadratic_form().linear)


ALL_CHECKS = [
    check_init_only_stores_arguments,
    check_fit_returns_self_and_fitted_attributes_end_in_underscore,
    check_unfitted_use_raises,
    check_quadratic_form_agrees_with_predict,
    check_get_params_round_trip,
]
