"""The NAS-Bench-201 cell space: 6 edges x 5 operations = 30 one-hot decisions, 15,625 cells."""

from __future__ import annotations

import re
from collections.abc import Sequence

from budgetnas.arch import Architecture
from budgetnas.spaces import register_space
from budgetnas.spaces._base import Group, SearchSpace

__all__ = ["EDGES", "OPS", "NB201Space"]

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) in the canonical string's order: |a~0|+|b~0|c~1|+|d~0|e~1|f~2|
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_NODE_RE = re.compile(r"^\|(?:[a-z0-9_]+~\d\|)+$")


@register_space("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 topology space.

    Example:
        >>> space = NB201Space()
        >>> arch = space.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        >>> space.n_binaries, arch.choices
        (30, (3, 3, 3, 1, 3, 3))
    """

    name = "nb201"

    def groups(self) -> Sequence[Group]:
        return tuple(Group(f"edge{src}->{dst}", OPS) for dst, src in EDGES)

    def effective(self, arch: Architecture) -> Architecture:
        """``arch`` with every dead edge set to ``none``: an edge out of a node that receives
        nothing (each of its inputs is ``none`` or dead), which carries only zeros, or into a
        node from which no edge leads on to the output, whose result is never read.

        Example:
            >>> space = NB201Space()
            >>> cell = space.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
            >>> space.to_string(space.effective(cell))  # node 2 receives nothing, node 1 leads nowhere
            '|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|'
        """
        self.validate(arch)
        op = {edge: c for edge, c in zip(EDGES, arch.choices, strict=True)}  # 0 is none
        fed = {0: True}
        for dst in (1, 2, 3):
            fed[dst] = any(op[(dst, src)] and fed[src] for src in range(dst))
        read = {3: True}
        for src in (2, 1, 0):
            read[src] = any(op[(dst, src)] and read[dst] for dst in range(src + 1, 4))
        choices = [c if fed[src] and read[dst] else 0 for (dst, src), c in op.items()]
        return Architecture(arch.space, tuple(choices))

    def to_string(self, arch: Architecture) -> str:
        self.validate(arch)
        ops = [OPS[c] for c in arch.choices]
        nodes, k = [], 0
        for dst in (1, 2, 3):
            nodes.append("|" + "|".join(f"{ops[k + src]}~{src}" for src in range(dst)) + "|")
            k += dst
        return "+".join(nodes)

    def from_string(self, text: str) -> Architecture:
        text = text.strip()
        parts = text.split("+")
        if len(parts) != 3 or not all(_NODE_RE.match(p) for p in parts):
            raise ValueError(
                f"not a NAS-Bench-201 cell string: {text!r} "
                "(expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|)"
            )
        choices = []
        for dst, part in enumerate(parts, start=1):
            tokens = part.strip("|").split("|")
            if len(tokens) != dst:
                raise ValueError(f"node {dst} of {text!r} needs {dst} inputs, got {len(tokens)}")
            for src, token in enumerate(tokens):
                op, _, idx = token.partition("~")
                if int(idx) != src:
                    raise ValueError(f"edge {token!r} of {text!r} should come from node {src}")
                if op not in OPS:
                    raise ValueError(f"unknown operation {op!r} in {text!r}; known: {OPS}")
                choices.append(OPS.index(op))
        return self.arch(choices)
