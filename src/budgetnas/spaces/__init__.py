"""Search spaces, built by name: ``get_space("nb201")``.

Importing the package is cheap: the base types and every space module are imported when first
used.

Example:
    >>> from budgetnas.spaces import get_space
    >>> get_space("nb201").size
    15625
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from budgetnas.lazy import lazy_dir, lazy_exports
from budgetnas.registry import Registry

if TYPE_CHECKING:
    from budgetnas.spaces._base import SearchSpace

SPACES: Registry[SearchSpace] = Registry(
    "search space",
    modules=["budgetnas.spaces.nb201", "budgetnas.spaces.toy", "budgetnas.spaces.mobilenet"],
)
register_space = SPACES.register


@cache
def get_space(name: str, **kwargs) -> SearchSpace:
    """The space registered as ``name`` (cached: spaces are immutable)."""
    return SPACES.create(name, **kwargs)


def list_spaces() -> list[str]:
    """The names of every registered space."""
    return SPACES.names()


__getattr__ = lazy_exports(
    __name__, {"Group": "budgetnas.spaces._base", "SearchSpace": "budgetnas.spaces._base"}
)
__dir__ = lazy_dir(__name__)


__all__ = ["SPACES", "Group", "SearchSpace", "get_space", "list_spaces", "register_space"]
