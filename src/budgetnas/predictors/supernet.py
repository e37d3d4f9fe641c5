"""The BINAS beyond-average predictor measured on a trained supernet (ALGORITHMS.md section 3).

``A0`` is the held-out accuracy of the supernet with every decision uniformly random (a fresh
random path per batch, averaged over ``passes`` passes over the held-out batches). For each of the
255 decisions the decision is forced and every other decision stays uniform; its coefficient is
``E[acc | decision] - A0``. For blocks 3 and 4 of a stage the depth is fixed at the depth where that
block is the last one (depth 3 for block 3, depth 4 for block 4), and their coefficient is taken
relative to ``E[acc | depth]`` by default, so the depth effect is counted once (see
:func:`coefficient_table`; ``center="a0"`` gives the literal ``- A0`` reading).

Each sampled path has its BatchNorm statistics re-estimated on ``bn_batches`` training batches
before it classifies its held-out batch, as the training code does before evaluating a path
(shared BatchNorms hold statistics of one path only, so they cannot be shared across paths).

Sampling is deterministic, one path per held-out batch, pass after pass. By default
(``sampling="independent"``) each distribution with key ``k`` (``"A0"``, ``"g<group>c<option>"``)
draws its paths from its own stream ``numpy.random.default_rng([seed, stable_hash(k)])`` (see
:func:`distribution_rng`). ``sampling="paired"`` (common random numbers) has every distribution
draw the base paths of ``A0`` and override only its forced groups in them, so each coefficient is
an average of paired differences on the same held-out images and other decisions. The
expectations are the same; on a Fashion-MNIST supernet the paired estimates ranked random subnets
worse (Kendall tau 0.25 against 0.38, docs/bench/pipeline.md): one forced block changes many
predictions of a briefly trained path, so little variance cancels, while the errors of all
coefficients become correlated through the shared base paths.

The result is a :class:`~budgetnas.costs._base.QuadraticForm` with the sparsity of the cost forms:
blocks 1-2 and depths are linear; block ``b`` in {3, 4} of stage ``s`` in option ``c`` is a pair
term ``alpha[s,b,c] * beta[s,d]`` for each depth ``d >= b`` (weight ``d[s,b,c]``).

Every expectation is written to a :class:`~budgetnas.store.Store` as soon as it is measured, so an
interrupted fit resumes where it stopped.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.spaces.mobilenet import (
    DEPTHS,
    MAX_DEPTH,
    N_BLOCK_OPTIONS,
    N_STAGES,
    MobileNetSpace,
)

STORE_KIND = "binas"
SUBNET_KIND = "oneshot"


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def distribution_rng(seed: int, key: str) -> np.random.Generator:
    """The generator the distribution ``key`` draws its paths from."""
    return np.random.default_rng([int(seed), stable_hash(key)])


def decisions(space: MobileNetSpace) -> list[tuple[str, dict[int, int]]]:
    """The 255 forced decisions as ``(key, {group: option})``, in binary-index order.

    Blocks 3 and 4 of a stage also fix the stage depth at which that block is the last one.
    """
    out = []
    for g, size in enumerate(space.group_sizes):
        for c in range(size):
            fixed = {g: c}
            if g < N_STAGES * MAX_DEPTH:
                s, b = divmod(g, MAX_DEPTH)
                if b + 1 > min(DEPTHS):  # block 3 or 4: the depth where it is the last block
                    fixed[space.depth_group(s)] = DEPTHS.index(b + 1)
            out.append((f"g{g}c{c}", fixed))
    return out


SAMPLINGS = ("paired", "independent")


def sample_path(
    space: MobileNetSpace, fixed: dict[int, int], rng: np.random.Generator
) -> Architecture:
    """A path with the ``fixed`` groups set and every other decision uniform."""
    choices = [int(rng.integers(s)) for s in space.group_sizes]
    for g, c in fixed.items():
        choices[g] = c
    return space.arch(choices)


class SupernetEvaluator:
    """Expected held-out accuracy of a supernet under a path distribution.

    ``recal_batches`` and ``eval_batches`` are re-iterable collections of ``(inputs, labels)``
    (lists or deterministic loaders). ``passes`` repeats the held-out batches with fresh paths.
    ``sampling`` is ``"paired"`` (every key draws the base paths of ``A0``) or
    ``"independent"`` (every key its own stream); see the module doc.

    ``bn_halves=True`` changes what :meth:`one_shot_counts` of a fixed path does: the even
    held-out batches are scored after recalibrating the BatchNorms on the first ``bn_batches``
    recalibration batches, the odd ones after recalibrating on the next ``bn_batches``. The
    accuracy then averages two independent recalibrations, and a split into even and odd batches
    (:mod:`budgetnas.predictors.reliability`) sees the recalibration's noise as well as the
    images'. The quality report scores its subnets so.
    """

    def __init__(
        self,
        supernet,
        recal_batches: Iterable,
        eval_batches: Iterable,
        bn_batches: int = 20,
        passes: int = 1,
        seed: int = 0,
        sampling: str = "independent",
        bn_halves: bool = False,
    ):
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLINGS)}")
        self.supernet = supernet
        self.sampling = sampling
        self.recal_batches = recal_batches
        self.eval_batches = eval_batches
        self.bn_batches = int(bn_batches)
        self.passes = int(passes)
        self.seed = int(seed)
        self.bn_halves = bool(bn_halves)
        self.space = supernet.space

    def fingerprint(self, sampling: bool = True) -> str:
        """Identifies the weights and the settings: stored records are reused only on a match.

        ``sampling=False`` leaves the path sampling out, for records of single fixed paths
        (:func:`random_subnet_accuracies`), which do not depend on it.
        """
        import torch

        h = hashlib.sha256()
        # BatchNorm running statistics are left out: every path re-estimates them from scratch
        # (and evaluating paths changes them), so they do not change any expectation
        skip = ("running_mean", "running_var", "num_batches_tracked")
        for name, t in sorted(self.supernet.state_dict().items()):
            if name.endswith(skip):
                continue
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        settings = {"bn": self.bn_batches, "passes": self.passes, "seed": self.seed}
        if sampling and self.sampling != "independent":  # independent fits keep their records
            settings["sampling"] = self.sampling
        if self.bn_halves:
            settings["bn_halves"] = True
        h.update(json.dumps(settings, sort_keys=True).encode())
        # the held-out data (another subset or batch size is another expectation) and the
        # recalibration batches actually used
        n_recal = self.bn_batches * (2 if self.bn_halves else 1)
        recal = [b for _, b in zip(range(n_recal), self.recal_batches, strict=False)]
        for x, y in [*self.eval_batches, *recal]:
            h.update(str(tuple(x.shape)).encode())
            h.update(x.detach().cpu().contiguous().numpy().tobytes())
            h.update(y.detach().cpu().contiguous().numpy().tobytes())
        h.update(str(torch.__version__).encode())
        return h.hexdigest()[:16]

    def expected_accuracy(self, fixed: dict[int, int], key: str) -> float:
        """``E[acc]`` with the ``fixed`` decisions forced and the rest uniform (see module doc)."""
        samples = self.path_samples(fixed, key)
        total = sum(samples["total"])
        if total == 0:
            raise ValueError("no held-out data to evaluate on")
        return sum(samples["correct"]) / total

    def path_samples(self, fixed: dict[int, int], key: str) -> dict[str, list]:
        """The evaluations behind ``expected_accuracy(fixed, key)``, one per held-out batch and
        pass: ``{"paths": [choices], "batch": [index], "correct": [n], "total": [n]}``.

        :class:`BinasPredictor` stores them with each expectation, so a regression on every
        evaluated path (:mod:`budgetnas.predictors.paths`) costs no further evaluation.
        """
        import torch

        from budgetnas.supernet.bn import recalibrate_bn

        net, space = self.supernet, self.space
        rng = self.path_rng(key)
        device = next(net.parameters()).device
        out: dict[str, list] = {"paths": [], "batch": [], "correct": [], "total": []}
        with torch.no_grad():
            for _ in range(self.passes):
                for j, (x, y) in enumerate(self.eval_batches):
                    arch = sample_path(space, fixed, rng)
                    net.set_active(arch)
                    recalibrate_bn(net, self.recal_batches, self.bn_batches)
                    pred = net(x.to(device)).argmax(1).cpu()
                    out["paths"].append([int(c) for c in arch.choices])
                    out["batch"].append(j)
                    out["correct"].append(int((pred == y).sum()))
                    out["total"].append(len(y))
        return out

    def path_rng(self, key: str) -> np.random.Generator:
        """The generator the distribution ``key`` draws its paths from (see ``sampling``)."""
        return distribution_rng(self.seed, "A0" if self.sampling == "paired" else key)

    def one_shot_accuracy(self, arch: Architecture) -> float:
        """Accuracy of one fixed path (BatchNorm recalibrated on that path)."""
        correct, total = self.one_shot_counts(arch)
        return sum(correct) / sum(total)

    def one_shot_counts(self, arch: Architecture) -> tuple[list[int], list[int]]:
        """:meth:`one_shot_accuracy` per held-out batch: ``(correct, total)`` lists (with
        ``bn_halves``, even and odd batches after two different recalibrations)."""
        from budgetnas.training.evaluate import one_shot_counts

        if not self.bn_halves:
            return one_shot_counts(
                self.supernet, arch, self.recal_batches, self.eval_batches, self.bn_batches
            )
        bn = self.bn_batches
        recal = [b for _, b in zip(range(2 * bn), self.recal_batches, strict=False)]
        if len(recal) < 2 * bn:
            raise ValueError(
                f"bn_halves needs 2 x {bn} recalibration batches, there are {len(recal)}"
            )
        held = list(self.eval_batches)
        correct, total = [0] * len(held), [0] * len(held)
        for k in (0, 1):  # even batches after the first recalibration, odd after the second
            if held[k::2]:
                correct[k::2], total[k::2] = one_shot_counts(
                    self.supernet, arch, recal[k * bn : (k + 1) * bn], held[k::2], bn
                )
        return correct, total


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


def _in_shard(items: list, shard: tuple[int, int]) -> list:
    """Items ``i, i + n, i + 2n, ...`` of shard ``(i, n)``."""
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    return items[i::n]


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
    todo = _in_shard([("A0", {}), *decisions(evaluator.space)], shard)
    acc: dict[str, float] = {}
    measured = 0
    with_samples = hasattr(evaluator, "path_samples")
    for n, (key, fixed) in enumerate(todo):
        rec = None if store is None else store.get(STORE_KIND, f"{fp}/{key}")
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
                store.put(STORE_KIND, f"{fp}/{key}", {"acc": value, **rec})
        else:
            value = float(rec["acc"])
        acc[key] = value
        if progress is not None:
            progress(n + 1, len(todo))
    return acc, measured


class BinasPredictor:
    """The beyond-average predictor of a supernet (fitted attributes end in ``_``).

    ``fit(evaluator)`` runs (or resumes, with ``store``) the 1 + 255 expectations.
    ``evaluator`` needs ``expected_accuracy(fixed, key)`` and ``fingerprint()``.
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
        if not hasattr(self, "intercept_"):
            raise RuntimeError("BinasPredictor is not fitted; call fit(evaluator) first")
        other = copy.copy(self)
        other.center = center
        other.block_coef_, other.depth_coef_ = coefficient_table(
            self.space_, self.intercept_, self.accuracies_, center
        )
        return other

    def quadratic_form(self) -> QuadraticForm:
        if not hasattr(self, "intercept_"):
            raise RuntimeError("BinasPredictor is not fitted; call fit(evaluator) first")
        return binas_form(self.space_, self.intercept_, self.block_coef_, self.depth_coef_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.quadratic_form().values(X)

    def predict_archs(self, archs: Sequence[Architecture]) -> np.ndarray:
        return self.predict(self.space_.encode_many(archs))

    def interpretation(self) -> dict:
        return interpretation(self.block_coef_, self.depth_coef_)


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
    archs = _in_shard(random_subnets(evaluator.space, n, seed), shard)
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


__all__ = [
    "SAMPLINGS",
    "BinasPredictor",
    "SupernetEvaluator",
    "binas_form",
    "coefficient_table",
    "decisions",
    "distribution_rng",
    "interpretation",
    "measure_expectations",
    "one_shot_scorer",
    "quality_report",
    "random_subnet_accuracies",
    "random_subnets",
    "sample_path",
    "subnet_key",
]
