"""The search-space abstraction: decisions as one-hot groups.

Every space (NAS-Bench-201 cells, the elastic MobileNetV3 space) exposes its decisions as an
ordered list of one-hot groups. An architecture picks one option per group; the concatenated
one-hot vector ``x`` (length :attr:`SearchSpace.n_binaries`) is what cost models, predictors and
solvers work on.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from budgetnas.arch import Architecture

__all__ = ["Group", "SearchSpace"]


@dataclass(frozen=True)
class Group:
    """One decision: pick exactly one of ``options``."""

    name: str
    options: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.options)


class SearchSpace(ABC):
    """Base class: subclasses define :attr:`name`, :meth:`groups`, and the string codec."""

    name: str = ""

    @abstractmethod
    def groups(self) -> Sequence[Group]:
        """The one-hot decision groups, in a fixed order."""

    @abstractmethod
    def to_string(self, arch: Architecture) -> str:
        """The canonical string of ``arch``."""

    @abstractmethod
    def from_string(self, text: str) -> Architecture:
        """Parse a canonical string; raises ``ValueError`` with the reason when malformed."""

    # ---- derived structure -------------------------------------------------------------
    @cached_property
    def group_sizes(self) -> tuple[int, ...]:
        return tuple(g.size for g in self.groups())

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        return tuple(int(o) for o in np.concatenate([[0], np.cumsum(self.group_sizes)[:-1]]))

    @property
    def n_groups(self) -> int:
        return len(self.group_sizes)

    @property
    def n_binaries(self) -> int:
        return int(sum(self.group_sizes))

    @cached_property
    def group_of(self) -> np.ndarray:
        """For each binary index, the index of its group."""
        return np.repeat(np.arange(self.n_groups), self.group_sizes)

    def group_slice(self, g: int) -> slice:
        return slice(self.offsets[g], self.offsets[g] + self.group_sizes[g])

    @property
    def size(self) -> int:
        """Number of distinct decision vectors (canonical architectures may be fewer)."""
        return math.prod(self.group_sizes)

    # ---- architectures -----------------------------------------------------------------
    def arch(self, choices: Sequence[int]) -> Architecture:
        arch = Architecture(self.name, tuple(choices))
        self.validate(arch)
        return self.canonicalize(arch)

    def validate(self, arch: Architecture) -> None:
        if arch.space != self.name:
            raise ValueError(f"architecture of space {arch.space!r} given to space {self.name!r}")
        if len(arch.choices) != self.n_groups:
            raise ValueError(f"expected {self.n_groups} choices, got {len(arch.choices)}")
        for g, (c, size) in enumerate(zip(arch.choices, self.group_sizes, strict=True)):
            if not 0 <= c < size:
                raise ValueError(f"choice {c} out of range for group {self.groups()[g].name}")

    def canonicalize(self, arch: Architecture) -> Architecture:
        """Map decisions that do not change the network to one representative (default: none)."""
        return arch

    def effective(self, arch: Architecture) -> Architecture:
        """The architecture of the computation ``arch`` performs: decisions that cannot change
        the network's output set to one representative. Coarser than :meth:`canonicalize`
        where a space keeps such architectures apart (NAS-Bench-201 lists every cell, dead
        edges and all, with its own trained accuracy); a model of accuracy reads these, so that
        what it learns of one cell carries to the cells that compute the same (default: the
        canonical architecture)."""
        return self.canonicalize(arch)

    def encode(self, arch: Architecture) -> np.ndarray:
        """The one-hot vector of ``arch`` (float64, length :attr:`n_binaries`)."""
        x = np.zeros(self.n_binaries)
        x[self.active_indices(arch)] = 1.0
        return x

    def encode_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        X = np.zeros((len(archs), self.n_binaries))
        for row, arch in enumerate(archs):
            X[row, self.active_indices(arch)] = 1.0
        return X

    def active_indices(self, arch: Architecture) -> np.ndarray:
        return np.asarray(self.offsets) + np.asarray(arch.choices, dtype=int)

    def defining_indices(self, arch: Architecture) -> np.ndarray:
        """The binaries that identify the *network* of ``arch``: every encoding with these set
        is the same network. A no-good cut on them excludes all of its encodings (default: every
        group's choice)."""
        return self.active_indices(arch)

    def decode(self, x: np.ndarray) -> Architecture:
        """The architecture of the largest entry in each group (exact for one-hot ``x``)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_binaries,):
            raise ValueError(f"expected a vector of length {self.n_binaries}, got {x.shape}")
        return self.arch([int(np.argmax(x[self.group_slice(g)])) for g in range(self.n_groups)])

    def sample(self, rng: np.random.Generator | int | None = None) -> Architecture:
        """One architecture, each decision uniform and independent."""
        rng = np.random.default_rng(rng)
        return self.arch([int(rng.integers(s)) for s in self.group_sizes])

    def enumerate(self, limit: int = 1_000_000) -> Iterator[Architecture]:
        """Every decision vector, in lexicographic order; refuses spaces larger than ``limit``."""
        if self.size > limit:
            raise ValueError(
                f"space {self.name!r} has {self.size:.3g} points; too many to enumerate"
            )
        for choices in itertools.product(*(range(s) for s in self.group_sizes)):
            yield self.arch(choices)

    def all_archs(self, limit: int = 1_000_000) -> tuple[Architecture, ...]:
        """Every canonical architecture, listed once and cached (small spaces only)."""
        cached = self.__dict__.get("_all_archs")
        if cached is None:
            cached = tuple(dict.fromkeys(self.enumerate(limit)))
            self.__dict__["_all_archs"] = cached
        return cached

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one decision to a different option (used by evolution)."""
        choices = list(arch.choices)
        movable = [g for g, s in enumerate(self.group_sizes) if s > 1]
        g = int(rng.choice(movable))
        choices[g] = int((choices[g] + rng.integers(1, self.group_sizes[g])) % self.group_sizes[g])
        return self.arch(choices)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(groups={self.n_groups}, binaries={self.n_binaries})"
