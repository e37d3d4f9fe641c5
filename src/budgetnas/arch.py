"""The architecture value type: one canonical, reversible string per architecture.

An :class:`Architecture` is the name of its search space plus one chosen option index per one-hot
group of that space. The space owns the human-readable string (``str(arch)``), so that the string
is the same in lookup tables, records, file names and on the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Architecture"]


@dataclass(frozen=True, order=True)
class Architecture:
    """An immutable, hashable architecture.

    Example:
        >>> from budgetnas.spaces import get_space
        >>> space = get_space("nb201")
        >>> arch = space.from_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|")
        >>> Architecture.from_string(str(arch), space="nb201") == arch
        True
    """

    space: str
    choices: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(int(c) for c in self.choices))

    def _space(self):
        from budgetnas.spaces import get_space

        return get_space(self.space)

    def __str__(self) -> str:
        return self._space().to_string(self)

    @classmethod
    def from_string(cls, text: str, space: str) -> Architecture:
        from budgetnas.spaces import get_space

        return get_space(space).from_string(text)

    def to_json(self) -> str:
        return json.dumps({"space": self.space, "arch": str(self)})

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        data = json.loads(text)
        return cls.from_string(data["arch"], space=data["space"])
