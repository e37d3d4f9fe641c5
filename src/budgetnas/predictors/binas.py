"""The BINAS beyond-average predictor measured on a trained supernet (docs/methods/predictors.md).

``A0`` is the held-out accuracy of the supernet with every decision uniformly random (a fresh
random path per batch, averaged over ``passes`` passes over the held-out batches; see
:class:`~budgetnas.predictors.evaluator.SupernetEvaluator`). For each of the 255 decisions the
decision is forced and every other decision stays uniform; its coefficient is
``E[acc | decision] - A0``. For blocks 3 and 4 of a stage the depth is fixed at the depth where that
block is the last one (depth 3 for block 3, depth 4 for block 4), and their coefficient is taken
relative to ``E[acc | depth]`` by default, so the depth effect is counted once (see
:func:`coefficient_table`; ``center="a0"`` gives the literal ``- A0`` reading).

The result is a :class:`~budgetnas.forms.QuadraticForm` with the sparsity of the cost forms:
blocks 1-2 and depths are linear; block ``b`` in {3, 4} of stage ``s`` in option ``c`` is a pair
term ``alpha[s,b,c] * beta[s,d]`` for each depth ``d >= b`` (weight ``d[s,b,c]``).

Every expectation is written to a :class:`~budgetnas.store.Store` as soon as it is measured, so an
interrupted fit resumes where it stopped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from budgetnas.forms import QuadraticForm
from budgetnas.predictors._base import SupernetPredictor, register_predictor
from budgetnas.predictors.evaluator import decisions, in_shard
from budgetnas.spaces.mobilenet import (
    DEPTHS,
    MAX_DEPTH,
    N_BLOCK_OPTIONS,
    N_STAGES,
    MobileNetSpace,
)

__all__ = [
    "CENTERS",
    "STORE_KIND",
    "BinasCoefficients",
    "BinasPredictor",
    "binas_form",
    "coefficient_table",
    "expectation_key",
    "expectations",
    "interpretation",
    "measure_expectations",
]

STORE_KIND = "binas"

CENTERS = ("depth", "a0")


def coefficient_table(
    space: MobileNetSpace, a0: float, acc: dict[str, float], center: str = "depth"
) -> tuple[np.ndarray, np.ndarray]:
    """``(block table (5, 4, 12), depth table (5, 3))`` of beyond-average contributions.

    Blocks 1-2 and depths: ``E[acc | decision] - A0``. Blocks 3 and 4 are measured with the depth
    fixed at ``b`` (the depth where block ``b`` is the last one). With ``center="depth"`` (the
    default) their coefficient is ``E[acc | block b = c, depth = b] - E[acc | depth = b]``: the
    contribution of the option *beyond the average at that depth*. The depth's own effect is in the
    depth coefficient ``e[s, b]``, which a network of that depth collects once; with
    ``center="a0"`` (``E[acc | block b = c, depth = b] - A0``, the literal reading of the formula)
    every deep block would collect the depth effect again. For an additive accuracy the ``depth``
    centering reproduces every architecture's accuracy exactly; ``a0`` is off by the depth effects.
    """
    if center not in CENTERS:
        raise ValueError(f"unknown center {center!r}; choose one of {', '.join(CENTERS)}")
    blocks = np.zeros((N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
    depth = np.zeros((N_STAGES, len(DEPTHS)))
    for g, size in enumerate(space.group_sizes):
        for c in range(size):
            value = acc[f"g{g}c{c}"]
            if g < N_STAGES * MAX_DEPTH:
                s, b = divmod(g, MAX_DEPTH)
                ref = a0
                if center == "depth" and b + 1 > min(DEPTHS):
                    ref = acc[f"g{space.depth_group(s)}c{DEPTHS.index(b + 1)}"]
                blocks[s, b, c] = value - ref
            else:
                depth[g - N_STAGES * MAX_DEPTH, c] = value - a0
    return blocks, depth


def binas_form(
    space: MobileNetSpace, a0: float, blocks: np.ndarray, depth: np.ndarray
) -> QuadraticForm:
    """``A0 + sum_s [ d[s,1..2] alpha + sum_d beta[s,d] (e[s,d] + sum_{b=3..d} d[s,b] alpha) ]``."""
    from budgetnas.costs.counting import block_form

    form = block_form(space, blocks, const=a0)
    linear = form.linear.copy()
    for s in range(N_STAGES):
        off = space.offsets[space.depth_group(s)]
        linear[off : off + len(DEPTHS)] += depth[s]
    return QuadraticForm(form.const, linear, form.pair_i, form.pair_j, form.pair_w)


def expectations(space) -> list[tuple[str, dict]]:
    """The 1 + 255 expectations as ``(key, fixed decisions)``: ``A0`` (nothing fixed), then
    every forced decision (:func:`decisions`)."""
    return [("A0", {}), *decisions(space)]


def expectation_key(fingerprint: str, key: str) -> str:
    """The store key (kind :data:`STORE_KIND`) of expectation ``key`` of an evaluator."""
    return f"{fingerprint}/{key}"


def measure_expectations(
    evaluator,
    store=None,
    shard: tuple[int, int] = (0, 1),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, float], int]:
    """The 1 + 255 expectations (``{key: accuracy}``) of shard ``(i, n)`` and how many of them
    were measured now rather than found in ``store``.

    The expectations are independent of each other, so ``n`` processes sharing one store can each
    measure the shard ``(i, n)``; a fit afterwards finds every one of them in the store.
    """
    fp = evaluator.fingerprint()
    todo = in_shard(expectations(evaluator.space), shard)
    acc: dict[str, float] = {}
    measured = 0
    with_samples = hasattr(evaluator, "path_samples")
    for n, (key, fixed) in enumerate(todo):
        rec = None if store is None else store.get(STORE_KIND, expectation_key(fp, key))
        if rec is None:
            rec = {"fixed": fixed}
            if with_samples:  # kept with the expectation: see predictors.paths
                rec.update(evaluator.path_samples(fixed, key))
                total = sum(rec["total"])
                if total == 0:
                    raise ValueError("no held-out data to evaluate on")
                value = sum(rec["correct"]) / total
            else:
                value = float(evaluator.expected_accuracy(fixed, key))
            measured += 1
            if store is not None:
                store.put(STORE_KIND, expectation_key(fp, key), {"acc": value, **rec})
        else:
            value = float(rec["acc"])
        acc[key] = value
        if progress is not None:
            progress(n + 1, len(todo))
    return acc, measured


class BinasCoefficients:
    """The BINAS form of fitted coefficients, shared by the predictors that estimate them
    (the averages of :class:`BinasPredictor`, the least squares of
    :class:`~budgetnas.predictors.paths.PathRegressionPredictor`): ``space_``, ``intercept_``,
    ``block_coef_`` and ``depth_coef_`` once fitted."""

    def quadratic_form(self) -> QuadraticForm:
        self._check_fitted()
        return binas_form(self.space_, self.intercept_, self.block_coef_, self.depth_coef_)

    def interpretation(self) -> dict:
        """Gains from depth and width by stage (:func:`interpretation`)."""
        self._check_fitted()
        return interpretation(self.block_coef_, self.depth_coef_)


@register_predictor("binas")
class BinasPredictor(BinasCoefficients, SupernetPredictor):
    """The beyond-average predictor of a supernet (fitted attributes end in ``_``).

    ``fit(evaluator)`` runs (or resumes, with ``store``) the 1 + 255 expectations.
    ``evaluator`` needs ``expected_accuracy(fixed, key)`` and ``fingerprint()``.

    Example:
        >>> BinasPredictor(center="a0")
        BinasPredictor(store=None, progress=None, center='a0')
    """

    def __init__(
        self,
        store=None,
        progress: Callable[[int, int], None] | None = None,
        center: str = "depth",
    ):
        self.store = store
        self.progress = progress
        self.center = center

    def fit(self, evaluator) -> BinasPredictor:
        if self.center not in CENTERS:  # before measuring anything
            raise ValueError(f"unknown center {self.center!r}; choose one of {', '.join(CENTERS)}")
        space = evaluator.space
        acc, measured = measure_expectations(evaluator, self.store, progress=self.progress)
        self.space_ = space
        self.fingerprint_ = evaluator.fingerprint()
        self.intercept_ = acc.pop("A0")
        self.accuracies_ = acc
        self.n_measured_ = measured
        self.block_coef_, self.depth_coef_ = coefficient_table(
            space, self.intercept_, acc, self.center
        )
        return self

    def recentered(self, center: str) -> BinasPredictor:
        """The same fitted expectations with blocks 3-4 centred otherwise (no evaluation)."""
        self._check_fitted()
        other = copy.copy(self)
        other.center = center
        other.block_coef_, other.depth_coef_ = coefficient_table(
            self.space_, self.intercept_, self.accuracies_, center
        )
        return other


def interpretation(block_coef: np.ndarray, depth_coef: np.ndarray) -> dict:
    """Which stages gain most from depth (2 -> 4) and from width (expansion 3 -> 6 in blocks 1-2),
    from the coefficient tables of a BINAS-form predictor."""
    out = {}
    for s in range(N_STAGES):
        e = depth_coef[s]
        width = block_coef[s, :2].reshape(2, 3, 4).mean(axis=(0, 2))  # by expansion
        out[f"stage{s + 1}"] = {
            "depth_gain": float(e[-1] - e[0]),
            "width_gain": float(width[-1] - width[0]),
        }
    return out
