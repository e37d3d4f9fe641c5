"""How well a predictor ranks subnets: one-shot accuracies of random subnets (each stored with its
counts per held-out batch) and the rank and error statistics of predictions against them
(docs/methods/predictors.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.predictors.evaluator import in_shard, stable_hash
from budgetnas.spaces.mobilenet import MobileNetSpace

__all__ = [
    "SUBNET_KIND",
    "one_shot_scorer",
    "quality_report",
    "random_subnet_accuracies",
    "random_subnets",
    "subnet_key",
]

SUBNET_KIND = "oneshot"


def random_subnets(space: MobileNetSpace, n: int, seed: int = 1) -> list[Architecture]:
    """The ``n`` uniformly random subnets of :func:`random_subnet_accuracies` (deterministic)."""
    rng = np.random.default_rng([int(seed), stable_hash("subnets")])
    return [space.sample(rng) for _ in range(n)]


def subnet_key(fingerprint: str, space: MobileNetSpace, arch: Architecture) -> str:
    """Store key of the one-shot record of ``arch`` (kind ``SUBNET_KIND``) under an evaluator's
    ``fingerprint(sampling=False)``."""
    return f"{fingerprint}/{space.to_string(arch)}"


def random_subnet_accuracies(
    evaluator,
    n: int,
    seed: int = 1,
    store=None,
    progress: Callable[[int, int], None] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> tuple[list[Architecture], np.ndarray]:
    """One-shot accuracies of ``n`` uniformly random subnets (cached in ``store``); with
    ``shard=(i, k)`` only the subnets ``i, i + k, ...`` of them (see :func:`measure_expectations`).

    Each record keeps the counts per held-out batch too (``"correct"``, ``"total"``), from which
    :func:`~budgetnas.predictors.reliability.stored_subnet_counts` reads how reliable the
    accuracies themselves are.
    """
    archs = in_shard(random_subnets(evaluator.space, n, seed), shard)
    score = one_shot_scorer(evaluator, store)
    accs = []
    for arch in archs:
        accs.append(score(arch))
        if progress is not None:
            progress(len(accs), len(archs))
    return archs, np.asarray(accs)


def one_shot_scorer(evaluator, store=None) -> Callable[[Architecture], float]:
    """``arch -> one-shot accuracy`` on ``evaluator``'s held-out batches, each result stored (kind
    ``SUBNET_KIND``, with its counts per batch) and read back on the next call for the same
    weights and data. The fingerprint is computed once, on the first call."""
    space = evaluator.space
    fp: list[str] = []

    def score(arch: Architecture) -> float:
        if not fp:
            fp.append(evaluator.fingerprint(sampling=False))
        key = subnet_key(fp[0], space, arch)
        rec = None if store is None else store.get(SUBNET_KIND, key)
        if rec is not None:
            return float(rec["acc"])
        correct, total = evaluator.one_shot_counts(arch)
        value = sum(correct) / sum(total)
        if store is not None:
            store.put(SUBNET_KIND, key, {"acc": value, "correct": correct, "total": total})
        return value

    return score


def quality_report(predicted: Sequence[float], measured: Sequence[float]) -> dict:
    """Kendall tau, Spearman, Pearson and RMSE of predictions against measured accuracies."""
    from scipy import stats

    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    if p.shape != m.shape or p.size < 2:
        raise ValueError("need two equally long sequences of at least 2 values")
    return {
        "n": int(p.size),
        "kendall_tau": float(stats.kendalltau(p, m).statistic),
        "spearman": float(stats.spearmanr(p, m).statistic),
        "pearson": float(stats.pearsonr(p, m).statistic),
        "rmse": float(np.sqrt(np.mean((p - m) ** 2))),
    }
