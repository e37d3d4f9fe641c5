"""A small product space for examples and tests: ``sizes[g]`` options per group, string ``"1-0-2"``."""

from __future__ import annotations

from collections.abc import Sequence

from budgetnas.arch import Architecture
from budgetnas.spaces import register_space
from budgetnas.spaces._base import Group, SearchSpace

__all__ = ["ToySpace"]


@register_space("toy")
class ToySpace(SearchSpace):
    """Independent categorical decisions; any sizes (the string does not depend on them).

    Example:
        >>> space = ToySpace(sizes=(3, 4, 2))
        >>> space.size, str(space.from_string("2-3-1"))
        (24, '2-3-1')
    """

    name = "toy"

    def __init__(self, sizes: Sequence[int] = (3, 4, 2, 3)):
        if not sizes or any(int(s) < 1 for s in sizes):
            raise ValueError("every group needs at least one option")
        self.sizes = tuple(int(s) for s in sizes)

    def groups(self) -> Sequence[Group]:
        return tuple(
            Group(f"g{k}", tuple(str(o) for o in range(s))) for k, s in enumerate(self.sizes)
        )

    def to_string(self, arch: Architecture) -> str:
        return "-".join(str(c) for c in arch.choices)

    def from_string(self, text: str) -> Architecture:
        try:
            choices = [int(t) for t in text.strip().split("-")]
        except ValueError:
            raise ValueError(
                f"not a toy architecture string: {text!r} (expected e.g. 1-0-2)"
            ) from None
        return self.arch(choices)
