"""Every registered predictor must pass the reusable suite (budgetnas.testing.pytest_predictors)."""

import pytest

pytest.importorskip("torch")

from budgetnas.predictors import create_predictor, list_predictors
from budgetnas.testing.pytest_predictors import ALL_CHECKS


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", list_predictors())
def test_registered_predictor(name, check, one_thread):
    check(name)


def test_expected_predictors_are_registered():
    assert {"binas", "paths", "ridge", "contributions"} <= set(list_predictors())
    with pytest.raises(KeyError, match="Did you mean 'binas'"):
        create_predictor("bnias")


def test_importing_the_package_imports_neither_torch_nor_scipy():
    import subprocess
    import sys

    code = (
        "import sys, budgetnas.predictors as p; p.list_predictors(); p.RidgePredictor; "
        "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
