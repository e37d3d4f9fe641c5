"""Every registered solver must pass the reusable suite (budgetnas.testing.pytest_solvers)."""

import pytest

from budgetnas.search import create_solver, list_solvers
from budgetnas.testing.pytest_solvers import ALL_CHECKS


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", list_solvers())
def test_registered_solver(name, check):
    check(name)


def test_expected_solvers_are_registered():
    expected = {"milp", "frank-wolfe", "hardcore", "evolution", "optuna", "random", "iqnas"}
    assert expected | {"exhaustive"} <= set(list_solvers())
    with pytest.raises(KeyError, match="Did you mean 'milp'"):
        create_solver("mlip")


def test_search_costs_and_spaces_packages_import_light():
    import subprocess
    import sys

    code = (
        "import sys, budgetnas.costs, budgetnas.spaces, budgetnas.search; "
        "print([m for m in ('torch', 'scipy', 'optuna', 'onnx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
