"""How well *any* predictor could rank subnets against a noisy one-shot target.

The quality report compares predictions with one-shot accuracies measured on a finite held-out
set, and those accuracies carry sampling noise: two evaluations of the same subnets on different
images do not rank them identically. When the subnets differ by less than that noise, no predictor
reaches a high Kendall tau against them, however good it is. This module measures the ceiling from
the counts per held-out batch that the one-shot records keep, without a further evaluation:

1. split the held-out batches into two halves (even and odd batches) and compute every subnet's
   accuracy on each half;
2. the Pearson correlation ``r_half`` between the two halves is the reliability of a half;
   the Spearman-Brown formula gives that of the whole set, ``r = 2 r_half / (1 + r_half)``;
3. a perfect predictor (the subnets' noise-free accuracies) correlates with the measured ones at
   ``sqrt(r)``; for jointly normal values Kendall's tau is ``(2 / pi) arcsin(correlation)``
   (Greiner's relation), which gives ``tau_ceiling``.

A subnet's one-shot accuracy also depends on the few training batches its BatchNorm statistics
are re-estimated on: two recalibrations on different batches rank the same subnets differently
(docs/bench/pipeline.md, run 8). The quality reports therefore score their subnets with
``SupernetEvaluator(bn_halves=True)``: the even batches after one recalibration, the odd ones after
another, so the split sees both sources of noise. Records scored with a single recalibration
share it between the halves, and their ceiling is an upper bound of the real one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from budgetnas.arch import Architecture


def report_batch_size(images: int, most: int = 500, batches: int = 10) -> int:
    """Batch size that scores ``images`` held-out images in about ``batches`` batches (at most
    ``most`` images each): the split into halves needs several batches, and speed large ones."""
    if images < 1:
        raise ValueError(f"need at least one held-out image, got {images}")
    return max(1, min(most, -(-images // batches)))


def split_half(counts: Sequence[tuple[Sequence[int], Sequence[int]]]) -> dict:
    """Reliability of accuracies from ``(correct, total)`` per batch of each subnet.

    Every subnet must have been evaluated on the same batches (at least 2). Returns
    ``split_half_tau`` and ``split_half_pearson`` (between the halves), ``reliability`` (whole
    held-out set, Spearman-Brown) and ``tau_ceiling`` (the best Kendall tau any predictor can
    expect against these accuracies).
    """
    from scipy import stats

    if len(counts) < 3:
        raise ValueError("need the per-batch counts of at least 3 subnets")
    n_batches = {len(c) for c, _ in counts} | {len(t) for _, t in counts}
    if len(n_batches) != 1 or min(n_batches) < 2:
        raise ValueError("every subnet needs counts for the same >= 2 held-out batches")
    correct = np.asarray([c for c, _ in counts], dtype=float)
    total = np.asarray([t for _, t in counts], dtype=float)
    halves = [
        correct[:, k::2].sum(1) / total[:, k::2].sum(1) for k in (0, 1)
    ]  # even and odd batches
    if np.ptp(halves[0]) == 0 or np.ptp(halves[1]) == 0:
        raise ValueError("the accuracies do not vary between subnets: nothing to rank")
    r_half = float(stats.pearsonr(*halves).statistic)
    tau_half = float(stats.kendalltau(*halves).statistic)
    r = max(0.0, 2 * r_half / (1 + r_half)) if r_half > -1 else 0.0
    return {
        "n": len(counts),
        "images_per_half": [int(total[:, k::2].sum(1)[0]) for k in (0, 1)],
        "split_half_tau": tau_half,
        "split_half_pearson": r_half,
        "reliability": r,
        "tau_ceiling": float(2 / np.pi * np.arcsin(np.sqrt(r))),
    }


def stored_subnet_counts(evaluator, archs: Sequence[Architecture], store) -> list | None:
    """The ``(correct, total)`` per batch that ``random_subnet_accuracies`` stored for ``archs``,
    or None when a record is missing or predates the per-batch counts."""
    from budgetnas.predictors.quality import SUBNET_KIND, subnet_key

    fp = evaluator.fingerprint(sampling=False)
    out = []
    for arch in archs:
        rec = store.get(SUBNET_KIND, subnet_key(fp, evaluator.space, arch))
        if rec is None or "correct" not in rec:
            return None
        out.append((rec["correct"], rec["total"]))
    return out


def target_reliability(evaluator, archs: Sequence[Architecture], store) -> dict:
    """:func:`split_half` of the stored one-shot records of ``archs``, with ``recalibrations``
    (2 when each half had its own BatchNorm recalibration, 1 when they shared one); where it cannot
    be computed, ``{"unavailable": reason}`` (records without counts, a single held-out batch, no
    variation between the subnets), so that a report can say why the ceiling is missing."""
    counts = stored_subnet_counts(evaluator, archs, store)
    if counts is None:
        return {
            "unavailable": "a one-shot record has no counts per held-out batch "
            "(measured before they were kept)"
        }
    try:
        rel = split_half(counts)
    except ValueError as exc:
        return {"unavailable": str(exc)}
    # 2: the halves were scored after recalibrations of their own (bn_halves), so the ceiling
    # counts that noise too; 1: one shared recalibration, the ceiling is an upper bound
    rel["recalibrations"] = 2 if getattr(evaluator, "bn_halves", False) else 1
    return rel


def recalibration_note(rel: dict) -> str:
    """A clause for reports: how the halves of :func:`target_reliability` were recalibrated
    (empty for records that do not say)."""
    n = rel.get("recalibrations")
    if n == 2:
        return ", each after its own BatchNorm recalibration"
    if n == 1:
        return ", sharing one BatchNorm recalibration: an upper bound"
    return ""


__all__ = [
    "recalibration_note",
    "report_batch_size",
    "split_half",
    "stored_subnet_counts",
    "target_reliability",
]
