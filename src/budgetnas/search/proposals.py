"""Pieces the model-based query solvers share: rank scores of the evidence, and feasible
candidate cells made by mutating the best cells found."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from scipy.stats import norm, rankdata

from budgetnas.arch import Architecture
from budgetnas.search._base import Problem

__all__ = ["feasible_mutations", "rank_scores"]


def rank_scores(y: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks: scale-free and robust to outlying values (collapsed cells).

    Example:
        >>> rank_scores(np.array([10.0, 90.0, 91.0])).round(2).tolist()
        [-0.97, 0.0, 0.97]
    """
    return norm.ppf((rankdata(y) - 0.5) / len(y))


def feasible_mutations(
    problem: Problem,
    rng: np.random.Generator,
    parents: Sequence[Architecture],
    count: int,
    attempts: int,
    seen: Collection[Architecture],
    rejected: set[Architecture],
    mix_random: bool = False,
) -> list[Architecture]:
    """Up to ``count`` distinct feasible cells, neither ``seen`` nor ``rejected``, from at most
    ``attempts`` tries: one or two random edits of a random parent (with ``mix_random``, every
    other try is a random sample of the space instead; with no parents, every try is). Over-budget
    tries are added to ``rejected``, so they are never tried again."""
    space = problem.space
    out: dict[Architecture, None] = {}
    for k in range(attempts):
        if len(out) >= count:
            break
        if parents and (k % 2 or not mix_random):
            a = space.mutate(parents[int(rng.integers(len(parents)))], rng)
            if rng.random() < 0.5:  # one or two edits
                a = space.mutate(a, rng)
        else:
            a = space.sample(rng)
        a = space.canonicalize(a)
        if a in seen or a in rejected or a in out:
            continue
        if problem.feasible(a):
            out[a] = None
        else:
            rejected.add(a)
    return list(out)
