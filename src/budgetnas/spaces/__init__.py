"""Search spaces, built by name: ``get_space("nb201")``."""

from __future__ import annotations

from functools import cache

from budgetnas.registry import Registry
from budgetnas.spaces._base import Group, SearchSpace

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
    return SPACES.names()


__all__ = ["SPACES", "Group", "SearchSpace", "get_space", "list_spaces", "register_space"]
