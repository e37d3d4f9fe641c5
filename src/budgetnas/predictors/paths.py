"""The BINAS form fitted by least squares on every path the predictor evaluated.

The 1 + 255 expectations of :class:`~budgetnas.predictors.binas.BinasPredictor` are averages:
``E[acc | decision]`` uses only the paths where that decision was *forced*, although the decision
was also drawn at random in about one path in twelve of every other expectation. The evaluations
behind them (one random path per held-out batch, stored with each expectation) are a sample of
thousands of ``(path, held-out batch, accuracy)`` triples. This module fits the same additive
model on all of them at once:

    acc(path, batch j) ~ b_j + sum over the *active* decisions of the path of w[decision]

where a decision is active when it is the depth of a stage or the option of a block that the
stage's depth reaches, and ``b_j`` absorbs the difficulty of held-out batch ``j`` (the fit is
within batches). Ridge least squares weighted by the images of each batch gives ``w``; the result
has exactly the sparsity of the BINAS form (:func:`~budgetnas.predictors.binas.binas_form`), so
the solvers optimize it the same way. It costs no supernet evaluation beyond the fit's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.predictors._base import SupernetPredictor, register_predictor
from budgetnas.predictors.binas import BinasCoefficients
from budgetnas.spaces.mobilenet import DEPTHS, MAX_DEPTH, N_BLOCK_OPTIONS, N_STAGES, MobileNetSpace


def active_features(space: MobileNetSpace, archs: Sequence[Architecture]) -> np.ndarray:
    """One-hot decisions with the blocks beyond each stage's depth switched off, ``(n, 255)``."""
    X = space.encode_many(archs).astype(float)
    for i, arch in enumerate(archs):
        for s, depth in enumerate(space.depths(arch)):
            for b in range(depth, MAX_DEPTH):
                X[i, space.group_slice(space.block_group(s, b))] = 0.0
    return X


def stored_path_samples(store, fingerprint: str) -> dict[str, list]:
    """Every stored evaluation of the expectations with ``fingerprint``, concatenated:
    ``{"paths", "batch", "correct", "total"}`` (see ``SupernetEvaluator.path_samples``)."""
    from budgetnas.predictors.binas import STORE_KIND

    out: dict[str, list] = {"paths": [], "batch": [], "correct": [], "total": []}
    n = 0
    for _, rec in store.items(STORE_KIND, prefix=f"{fingerprint}/"):
        if "paths" not in rec:
            raise ValueError(
                "the stored expectations have no path samples (measured before they were kept); "
                "fit into a new store to get them"
            )
        for k in out:
            out[k].extend(rec[k])
        n += 1
    if n == 0:
        raise ValueError(f"no stored expectations with fingerprint {fingerprint}")
    return out


# ridge penalties tried by cross-validation (``alpha="cv"``), in held-out images
ALPHA_GRID = tuple(float(a) for a in 10.0 ** np.arange(0.0, 7.5, 0.5))


def _within_batches(X, y, total, batch):
    """``X`` and ``y`` minus the image-weighted mean of their held-out batch."""
    Xc, yc = X.copy(), y.copy()
    for j in np.unique(batch):
        m = batch == j
        wts = total[m] / total[m].sum()
        Xc[m] -= wts @ X[m]
        yc[m] -= wts @ y[m]
    return Xc, yc


def _normal_equations(Xc, yc, total):
    """``(X'WX, X'Wy)`` with the images of each sample as weights ``W``: the part of a ridge fit
    that does not depend on the penalty, computed once for every penalty tried."""
    Xw = Xc * total[:, None]
    return Xw.T @ Xc, Xw.T @ yc


def _ridge(normal, alpha):
    gram, rhs = normal
    return np.linalg.solve(gram + alpha * np.eye(len(rhs)), rhs)


def cv_errors(X, y, total, batch, alphas, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Image-weighted mean squared error of held-out paths for each ridge penalty in ``alphas``.

    The paths are split into ``folds`` random folds; each fold is predicted by the fit on the
    others, with the batch effect of its held-out batch estimated from the other folds' paths of
    that batch (paths of a batch that no other fold holds are not scored).
    """
    fold = np.random.default_rng(seed).permutation(len(y)) % folds
    err = np.zeros(len(alphas))
    weight = 0.0
    for k in range(folds):
        tr, va = fold != k, fold == k
        normal = _normal_equations(*_within_batches(X[tr], y[tr], total[tr], batch[tr]), total[tr])
        seen = np.isin(batch[va], batch[tr])
        if not seen.any():
            continue
        Xv, yv, tv, bv = X[va][seen], y[va][seen], total[va][seen], batch[va][seen]
        weight += tv.sum()
        for i, alpha in enumerate(alphas):
            w = _ridge(normal, alpha)
            resid_tr = y[tr] - X[tr] @ w
            offset = {}
            for j in np.unique(bv):
                m = batch[tr] == j
                offset[j] = total[tr][m] @ resid_tr[m] / total[tr][m].sum()
            resid = yv - Xv @ w - np.array([offset[j] for j in bv])
            err[i] += tv @ resid**2
    if weight == 0:
        raise ValueError("cross-validation needs held-out batches with paths in several folds")
    return err / weight


@register_predictor("paths")
class PathRegressionPredictor(BinasCoefficients, SupernetPredictor):
    """Ridge least squares of the BINAS form on evaluated paths (fitted attributes end in ``_``).

    ``fit(evaluator)`` measures (or, with ``store``, resumes or reads) the expectations of
    :func:`~budgetnas.predictors.binas.measure_expectations` and fits on every path they
    evaluated; ``fit_samples(space, samples)`` fits on the dictionary of
    :func:`stored_path_samples` (or of ``SupernetEvaluator.path_samples``) directly. ``alpha`` is
    the ridge penalty on the decision weights, in units of held-out images (each sample weighs as
    many images as its batch held); ``"cv"`` (the default) picks it from ``ALPHA_GRID`` by 5-fold
    cross-validation over the paths (:func:`cv_errors`; the choice is ``alpha_``). Each sample's
    accuracy on a few dozen images is mostly sampling noise, so the weights need shrinking: on a
    Fashion-MNIST supernet the cross-validated penalty ranked held-out subnets better than a
    nearly unpenalized fit (docs/bench/pipeline.md, run 8).

    Example:
        >>> PathRegressionPredictor(alpha=10.0)
        PathRegressionPredictor(alpha=10.0, store=None, progress=None)
    """

    def __init__(
        self,
        alpha: float | str = "cv",
        store=None,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.alpha = alpha
        self.store = store
        self.progress = progress

    def _alpha(self) -> float | str:
        alpha = self.alpha
        if isinstance(alpha, str) and alpha == "cv":
            return alpha
        try:
            value = float(alpha)
        except (TypeError, ValueError):
            value = -1.0
        if not value >= 0:
            raise ValueError(f"alpha must be a number >= 0 or 'cv', got {alpha!r}")
        return value

    def fit(self, evaluator) -> PathRegressionPredictor:
        """Measure the expectations of ``evaluator`` (into ``store``, or a store in memory) and
        fit on their paths."""
        from budgetnas.predictors.binas import measure_expectations
        from budgetnas.store import Store

        self._alpha()  # a bad penalty fails before anything is measured
        store = self.store if self.store is not None else Store(":memory:")
        measure_expectations(evaluator, store, progress=self.progress)
        return self.fit_samples(
            evaluator.space, stored_path_samples(store, evaluator.fingerprint())
        )

    def fit_samples(
        self, space: MobileNetSpace, samples: dict[str, list]
    ) -> PathRegressionPredictor:
        """Fit on evaluated paths: ``{"paths", "batch", "correct", "total"}``."""
        alpha = self._alpha()
        paths = samples["paths"]
        if len(paths) < 2:
            raise ValueError("need at least two evaluated paths")
        archs = [space.arch(list(c)) for c in paths]
        X = active_features(space, archs)
        total = np.asarray(samples["total"], dtype=float)
        y = np.asarray(samples["correct"], dtype=float) / total
        batch = np.asarray(samples["batch"])
        if alpha == "cv":
            self.cv_errors_ = cv_errors(X, y, total, batch, ALPHA_GRID)
            self.alpha_ = ALPHA_GRID[int(np.argmin(self.cv_errors_))]
        else:
            self.alpha_ = alpha
        # within held-out batches: the batch's weighted mean subtracted from X and y
        Xc, yc = _within_batches(X, y, total, batch)
        w = _ridge(_normal_equations(Xc, yc, total), self.alpha_)
        wts = total / total.sum()
        self.space_ = space
        self.coef_ = w
        self.intercept_ = float(wts @ y - (wts @ X) @ w)  # the batch effects averaged out
        self.n_samples_ = len(paths)
        self.block_coef_ = np.zeros((N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
        self.depth_coef_ = np.zeros((N_STAGES, len(DEPTHS)))
        for s in range(N_STAGES):
            for b in range(MAX_DEPTH):
                self.block_coef_[s, b] = w[space.group_slice(space.block_group(s, b))]
            self.depth_coef_[s] = w[space.group_slice(space.depth_group(s))]
        return self


FORMS = ("binas", "paths")


def paths_predictor(binas, store) -> PathRegressionPredictor:
    """The path regression on the evaluations behind a fitted ``BinasPredictor`` (in ``store``)."""
    return PathRegressionPredictor().fit_samples(
        binas.space_, stored_path_samples(store, binas.fingerprint_)
    )


__all__ = [
    "ALPHA_GRID",
    "FORMS",
    "PathRegressionPredictor",
    "active_features",
    "cv_errors",
    "paths_predictor",
    "stored_path_samples",
]
