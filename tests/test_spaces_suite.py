"""Every registered search space must pass the reusable suite (budgetnas.testing.pytest_spaces)."""

import pytest

from budgetnas.spaces import get_space, list_spaces
from budgetnas.spaces.mobilenet import PRESETS, MobileNetSpace
from budgetnas.spaces.toy import ToySpace
from budgetnas.testing.pytest_spaces import ALL_CHECKS, make

CHECK_IDS = {"ids": lambda c: c.__name__.removeprefix("check_")}


@pytest.mark.parametrize("check", ALL_CHECKS, **CHECK_IDS)
@pytest.mark.parametrize("name", list_spaces())
def test_registered_space(name, check):
    check(name)


# the decision space does not depend on the macro structure, and building a space is cheap, so
# every preset runs (a registered name runs with the tiny one above)
VARIANTS = {
    **{f"mobilenet-{p}": (lambda p=p: MobileNetSpace(preset=p)) for p in PRESETS},
    "toy-single-options": lambda: ToySpace(sizes=(1, 3, 1, 2)),
    "toy-one-group": lambda: ToySpace(sizes=(5,)),
}


@pytest.mark.parametrize("check", ALL_CHECKS, **CHECK_IDS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_space_variant(variant, check):
    check(VARIANTS[variant]())


def test_expected_spaces_are_registered():
    assert {"mobilenet", "nb201", "toy"} <= set(list_spaces())
    assert make("mobilenet").config.name == "tiny"
    with pytest.raises(KeyError, match="Did you mean 'nb201'"):
        get_space("nb210")
