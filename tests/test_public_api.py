"""Every public module of budgetnas says what it exports: an ``__all__`` of names it defines."""

import importlib
import pkgutil

import pytest

import budgetnas


def public_modules() -> list[str]:
    names = ["budgetnas"]
    for info in pkgutil.walk_packages(budgetnas.__path__, prefix="budgetnas."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


MODULES = public_modules()


def test_the_walk_finds_the_modules():
    assert {"budgetnas.lazy", "budgetnas.cli.main", "budgetnas.models.baseline"} <= set(MODULES)
    assert not [m for m in MODULES if "._" in m]


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_what_it_exports(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    exported = list(module.__all__)
    assert all(isinstance(n, str) for n in exported), name
    duplicates = sorted({n for n in exported if exported.count(n) > 1})
    assert not duplicates, f"{name}.__all__ repeats {duplicates}"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
