"""Expected held-out accuracy of a supernet under a path distribution (docs/methods/predictors.md).

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

The 255 forced decisions are :func:`decisions`; the BINAS predictor built on them is in
:mod:`budgetnas.predictors.binas`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.spaces.mobilenet import DEPTHS, MAX_DEPTH, N_STAGES, MobileNetSpace

__all__ = [
    "SAMPLINGS",
    "SupernetEvaluator",
    "decisions",
    "distribution_rng",
    "in_shard",
    "sample_path",
    "stable_hash",
]


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
        runtime=None,
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
        # where and in which precision the paths are scored (default: the supernet's device,
        # fp32); the fingerprint does not depend on it
        self.runtime = runtime

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
        from budgetnas.training.evaluate import model_runtime

        net, space = self.supernet, self.space
        rng = self.path_rng(key)
        rt = model_runtime(net, self.runtime)
        out: dict[str, list] = {"paths": [], "batch": [], "correct": [], "total": []}
        with torch.no_grad():
            for _ in range(self.passes):
                for j, (x, y) in enumerate(self.eval_batches):
                    arch = sample_path(space, fixed, rng)
                    net.set_active(arch)
                    recalibrate_bn(net, self.recal_batches, self.bn_batches, rt)
                    with torch.inference_mode(), rt.autocast():
                        pred = net(rt.move(x)).argmax(1).cpu()
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
                self.supernet,
                arch,
                self.recal_batches,
                self.eval_batches,
                self.bn_batches,
                self.runtime,
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
                    self.supernet, arch, recal[k * bn : (k + 1) * bn], held[k::2], bn, self.runtime
                )
        return correct, total


def in_shard(items: list, shard: tuple[int, int]) -> list:
    """Items ``i, i + n, i + 2n, ...`` of shard ``(i, n)``."""
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    return items[i::n]
