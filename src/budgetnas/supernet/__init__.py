"""The weight-sharing supernet of the elastic MobileNetV3 space, standalone children, extraction.

The names below are imported on first use (they need torch).

Example:
    >>> import torch
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> from budgetnas.supernet import MobileNetSupernet, extract
    >>> space = MobileNetSpace(preset="tiny")
    >>> net = MobileNetSupernet(space).eval()
    >>> arch = space.sample(0)
    >>> net.set_active(arch)
    >>> x = torch.randn(2, 3, 16, 16)
    >>> bool((extract(net, arch).eval()(x) - net(x)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "ElasticBlock",
    "MobileNetChild",
    "MobileNetSupernet",
    "build_network",
    "extract",
    "recalibrate_bn",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "recalibrate_bn": "budgetnas.supernet.bn",
        "extract": "budgetnas.supernet.extract",
        "MobileNetChild": "budgetnas.supernet.standalone",
        "build_network": "budgetnas.supernet.standalone",
        "ElasticBlock": "budgetnas.supernet.supernet",
        "MobileNetSupernet": "budgetnas.supernet.supernet",
    },
    cache=True,
)
__dir__ = lazy_dir(__name__)


# names of functions that are also the names of the submodules defining them
_SHADOWED = frozenset({"extract"})


class _Package(ModuleType):
    """Importing a submodule binds it as an attribute of its package, which would hide the
    function :func:`extract` behind the module ``extract`` that defines it. This keeps the
    function there (as an eager ``from .extract import extract`` did), whichever is imported
    first."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
