"""Lazy package attributes: a package names what it exports and the module holding each, and
the module is imported on first use, so that importing the package stays cheap (no torch,
scipy, optuna or onnx until something needs them).

A package's ``__init__.py`` then reads::

    __getattr__ = lazy_exports(__name__, {"TrainConfig": "budgetnas.training.config", ...})
    __dir__ = lazy_dir(__name__)

Example:
    >>> getattr_ = lazy_exports("pkg", {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0)
    3.0
    >>> getattr_("nope")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'nope'
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

__all__ = ["lazy_dir", "lazy_exports"]


def lazy_exports(
    package: str, names: dict[str, str], *, cache: bool = False
) -> Callable[[str], Any]:
    """The module ``__getattr__`` of a package whose attribute ``name`` lives in the module
    ``names[name]``; use as ``__getattr__ = lazy_exports(__name__, {...})``. ``cache``: bind the
    value in the package once imported (later look-ups no longer call ``__getattr__``)."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(import_module(names[name]), name)
            if cache:
                vars(sys.modules[package])[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def lazy_dir(package: str) -> Callable[[], list[str]]:
    """The module ``__dir__`` of a lazy package: what it holds now and every name of its
    ``__all__``, imported or not; use as ``__dir__ = lazy_dir(__name__)``."""

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __dir__
