"""The predictor fit of a trained supernet, one workflow for the pipeline and ``predictor fit``
(docs/methods/predictors.md).

:func:`fit_predictor` measures (or resumes from the store) the 1 + 255 expectations of the BINAS
predictor, fits the BINAS form and the path regression on the same evaluations, and, when asked,
reports their quality against the one-shot accuracies of random subnets. The outcome is a
:class:`PredictorResult`, saved as ``predictor.json``.

Example:
    >>> cfg = PredictorConfig(heldout=64, batch=32, subnets=10)
    >>> cfg.form, cfg.center, cfg.sampling
    ('paths', 'depth', 'independent')
    >>> from budgetnas.forms import QuadraticForm
    >>> import numpy as np
    >>> res = PredictorResult(QuadraticForm(0.5, np.zeros(3)), searched="binas", intercept=0.5)
    >>> PredictorResult.from_json(res.to_json()).to_json() == res.to_json()
    True
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from budgetnas.config import option
from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS
from budgetnas.executors.base import (
    ray_address_option,
    ray_gpus_option,
    uses_executor,
    worker_threads,
)
from budgetnas.forms import QuadraticForm

__all__ = [
    "FILENAME",
    "PredictorConfig",
    "PredictorFitConfig",
    "PredictorResult",
    "default_worker_setup",
    "fit_predictor",
    "report_subnet_sets",
    "setup_worker",
]

FILENAME = "predictor.json"

# quality reports that ``budgetnas predictor fit`` wrote at the top level of predictor.json
_LEGACY_REPORTS = ("binas", "binas_center_a0", "binas_center_depth", "paths", "ridge")
_OPTIONAL = ("quality", "quality_points", "quality_by_form", "target_reliability")


@dataclass
class PredictorConfig:
    """Settings of a predictor fit (:func:`fit_predictor`)."""

    heldout: int | None = option(
        500, "held-out images of the expectations (none: all of the held-out split)"
    )
    batch: int = option(250, "held-out images per random path (one path per batch)")
    passes: int = option(1, "passes over the held-out batches, each with fresh random paths")
    sampling: str = option(
        "independent",
        "independent: a random stream of paths per expectation; paired: every expectation draws "
        "the same random paths and a forced decision overrides only its own groups",
        choices=("independent", "paired"),
    )
    form: str = option(
        "paths",
        "the form searched: paths (least squares on every evaluated path) or binas (the "
        "averages of forced decisions), both from the same evaluations",
        choices=("paths", "binas"),
    )
    center: str = option(
        "depth",
        "blocks 3-4 relative to E[acc | depth] or to A0 (the literal formula)",
        choices=("depth", "a0"),
    )
    jobs: int = option(
        1,
        "workers measuring the expectations and report subnets in parallel (processes of this "
        "machine, or Ray tasks at a time with --executor ray); this process alone writes the store",
    )
    executor: str = option(
        "local",
        "where the workers run: local (processes of this machine) or ray (Ray tasks; a local Ray "
        "unless --ray-address)",
        choices=("local", "ray"),
    )
    ray_address: str | None = ray_address_option()
    ray_gpus: float = ray_gpus_option()
    subnets: int = option(0, "random subnets of the quality report (0: no report)")
    subnet_heldout: int | None = option(
        None,
        "held-out images scoring each report subnet (none: as heldout); more images, less noise "
        "in the one-shot accuracies the predictor is judged against",
    )
    ridge_subnets: int = option(
        0, "random subnets to fit a ridge model on, for comparison in the report (0: none)"
    )


@dataclass
class PredictorFitConfig(PredictorConfig):
    """Settings of ``budgetnas predictor fit``: the fit's, and the device and precision its
    evaluations run in.

    :class:`PredictorConfig` itself has no device: in ``budgetnas run`` the predictor's
    evaluations run where the run trains and fine-tunes (its one ``--device``, a setting of
    ``[train]``), so that a run has a single device and no second ``--device`` flag; a
    :class:`~budgetnas.training.trained.TrainedSupernet` carries it to the evaluators. A fit of
    its own names them here.
    """

    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)


def fit_settings(cfg: PredictorConfig) -> dict[str, Any]:
    """The fields of :class:`PredictorConfig` of ``cfg`` (of a subclass too), as a dict."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(PredictorConfig)}


@dataclass(eq=False)
class PredictorResult:
    """A fitted predictor as ``predictor.json`` stores it: the searched ``form`` (its name in
    ``searched``), the BINAS intercept ``A0``, how it was measured, and the quality reports.

    ``predictor``, ``evaluator``, ``fitted`` (every fitted predictor by name) and ``predictions``
    (each form's predictions of the report's subnets) are set by :func:`fit_predictor` only; they
    are not serialized.
    """

    form: QuadraticForm
    searched: str = "binas"
    intercept: float = 0.0
    center: str = "depth"
    sampling: str | None = None
    measured_now: int | None = None
    fingerprint: str | None = None
    interpretation: dict = field(default_factory=dict)
    paths_alpha: float | None = None
    quality: dict | None = None
    quality_by_form: dict | None = None
    quality_points: dict | None = None
    target_reliability: dict | None = None
    predictor: Any = field(default=None, repr=False)
    evaluator: Any = field(default=None, repr=False)
    fitted: dict = field(default_factory=dict, repr=False)
    predictions: dict = field(default_factory=dict, repr=False)

    def info(self) -> dict:
        """The predictor's entry of a run's ``result.json`` (keys A0, form, measured_now,
        fingerprint, interpretation, paths_alpha, quality, quality_points, quality_by_form,
        target_reliability; those not measured are left out)."""
        out: dict[str, Any] = {"A0": self.intercept, "form": self.searched}
        if self.measured_now is not None:
            out["measured_now"] = self.measured_now
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint
        out["interpretation"] = self.interpretation
        if self.paths_alpha is not None:
            out["paths_alpha"] = self.paths_alpha
        for key in _OPTIONAL:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def to_json(self) -> dict:
        """:meth:`info`, ``center``, ``sampling`` and the form's ``const``, ``linear``,
        ``pair_i``, ``pair_j``, ``pair_w``."""
        out = {**self.info(), "center": self.center}
        if self.sampling is not None:
            out["sampling"] = self.sampling
        return {**out, **self.form.to_dict()}

    @classmethod
    def from_json(cls, data: dict) -> PredictorResult:
        """Read :meth:`to_json`, a ``predictor.json`` of an earlier run, or one of an earlier
        ``budgetnas predictor fit`` (its reports ``binas``, ``paths``, ... at the top level)."""
        searched = data.get("form", "binas")
        quality, by_form = data.get("quality"), data.get("quality_by_form")
        if by_form is None:
            legacy = {k: data[k] for k in _LEGACY_REPORTS if isinstance(data.get(k), dict)}
            if legacy:
                by_form = legacy
                quality = quality if quality is not None else legacy.get(searched)
        return cls(
            form=QuadraticForm.from_dict(data),
            searched=searched,
            intercept=float(data["A0"]),
            center=data.get("center", "depth"),
            sampling=data.get("sampling"),
            measured_now=data.get("measured_now"),
            fingerprint=data.get("fingerprint"),
            interpretation=data.get("interpretation", {}),
            paths_alpha=data.get("paths_alpha"),
            quality=quality,
            quality_by_form=by_form,
            quality_points=data.get("quality_points"),
            target_reliability=data.get("target_reliability"),
        )

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (a folder: its ``predictor.json``)."""
        from budgetnas.results import write_result

        return write_result(self.to_json(), path, FILENAME)

    @classmethod
    def load(cls, path: str | Path) -> PredictorResult:
        """Read a ``predictor.json`` (or the one in folder ``path``)."""
        from budgetnas.results import read_result

        redo = "fit it with `budgetnas predictor fit` or `budgetnas run`"
        return cls.from_json(read_result(path, FILENAME, redo)[1])


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _check(cfg: PredictorConfig) -> None:
    from budgetnas.executors.base import check_executor_settings
    from budgetnas.predictors.paths import FORMS

    if cfg.form not in FORMS:
        raise ValueError(f"unknown predictor form {cfg.form!r}; choose {' or '.join(FORMS)}")
    check_executor_settings(cfg)
    if cfg.subnets == 1:
        raise ValueError("the quality report needs at least 2 random subnets (or 0: no report)")


def report_subnet_sets(cfg: PredictorConfig) -> list[tuple[int, int]]:
    """The ``(count, seed)`` random subnet sets of the report: the scored ones (seed 1) and those
    a ridge model is fitted on (seed 2)."""
    if cfg.subnets <= 0:
        return []
    sets = [(cfg.subnets, 1)]
    if cfg.ridge_subnets > 1:
        sets.append((cfg.ridge_subnets, 2))
    return sets


def _evaluators(trained, cfg: PredictorConfig, seed: int, report_passes: int | None):
    """``(evaluator, report evaluator or None)``: the report's only when a report is asked."""
    ev = trained.evaluator(
        cfg.heldout, cfg.batch, passes=cfg.passes, seed=seed, sampling=cfg.sampling
    )
    sub_ev = None
    if cfg.subnets > 0:
        passes = cfg.passes if report_passes is None else report_passes
        sub_ev = trained.report_evaluator(
            cfg.subnet_heldout or cfg.heldout, seed=seed, passes=passes, sampling=cfg.sampling
        )
    return ev, sub_ev


def setup_worker(
    checkpoint: str,
    data_dir: str | None,
    bn_batches: int,
    cfg: dict,
    store_path: str | None,
    seed: int = 0,
    report_passes: int | None = None,
    threads: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> tuple:
    """``(evaluator, report evaluator, store)`` rebuilt in a worker, on ``device`` in
    ``precision`` (default: the training's); the store is ``None`` without ``store_path`` (the
    executor's workers return their records instead of writing them)."""
    from budgetnas.store import Store
    from budgetnas.training.trained import TrainedSupernet

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    trained = TrainedSupernet.open(
        checkpoint,
        data_dir=data_dir,
        bn_batches=bn_batches,
        finished=False,
        device=device,
        precision=precision,
    )
    ev, sub_ev = _evaluators(trained, PredictorConfig(**cfg), seed, report_passes)
    return ev, sub_ev, Store(store_path) if store_path else None


def default_worker_setup(
    trained, cfg: PredictorConfig, seed: int = 0, report_passes: int | None = None
) -> Callable[[], tuple]:
    """A picklable :func:`setup_worker` for ``trained`` (opened from its checkpoint), each
    worker with its share of this process's torch threads (one, on a Ray cluster's worker)."""
    if trained.path is None:
        raise ValueError("jobs > 1 needs a supernet opened from a checkpoint, or a worker_setup")
    threads = worker_threads(cfg.executor, cfg.jobs)
    return partial(
        setup_worker,
        str(trained.path),
        trained.train.data_dir,
        trained.train.bn_batches,
        fit_settings(cfg),
        None,
        seed,
        report_passes,
        threads,
        trained.train.device,  # the workers score where this process does
        trained.train.precision,
    )


def _fit_forms(ev, cfg: PredictorConfig, store, log) -> dict:
    """``{"binas": ..., "paths": ...}`` fitted on the same evaluations ("paths" left out when the
    stored expectations have no paths and the form searched is binas)."""
    from budgetnas.predictors.binas import BinasPredictor
    from budgetnas.predictors.paths import paths_predictor

    def progress(i, n):
        if i % 32 == 0 or i == n:
            log(f"predictor: {i}/{n} expectations")

    binas = BinasPredictor(store=store, progress=progress, center=cfg.center).fit(ev)
    fitted = {"binas": binas}
    try:  # the same evaluations, fitted jointly: no further supernet evaluation
        fitted["paths"] = paths_predictor(binas, store)
    except ValueError as exc:  # expectations stored before their paths were kept
        if cfg.form == "paths":
            raise ValueError(
                f"predictor form 'paths': {exc}; or search the stored averages with "
                "--predictor-form binas"
            ) from exc
        log(f"paths: not fitted: {exc}")
    return fitted


def _report(result: PredictorResult, sub_ev, cfg, store, log, compare_centers: bool) -> None:
    """The quality report of every fitted form against the one-shot accuracies of random
    subnets (and of a ridge model, with ``ridge_subnets``), into ``result``."""
    from budgetnas.predictors.quality import quality_report, random_subnet_accuracies
    from budgetnas.predictors.regression import RidgePredictor
    from budgetnas.predictors.reliability import target_reliability

    def subnet_progress(i, n):
        if i % 10 == 0 or i == n:
            log(f"predictor quality: {i}/{n} random subnets")

    archs, accs = random_subnet_accuracies(
        sub_ev, cfg.subnets, store=store, progress=subnet_progress
    )
    fitted = result.fitted
    space = fitted["binas"].space_
    predicted = result.predictor.predict_archs(archs)
    result.quality = quality_report(predicted, accs)
    result.quality_points = {"predicted": predicted.tolist(), "oneshot": accs.tolist()}
    result.predictions = {name: p.predict_archs(archs) for name, p in fitted.items()}
    by_form = {name: quality_report(p, accs) for name, p in result.predictions.items()}
    if compare_centers:  # the other centering costs no evaluation: the same expectations
        other = "a0" if cfg.center == "depth" else "depth"
        alt = fitted["binas"].recentered(other)
        by_form[f"binas_center_{other}"] = quality_report(alt.predict_archs(archs), accs)
    if cfg.ridge_subnets > 1:
        tr_archs, tr_accs = random_subnet_accuracies(sub_ev, cfg.ridge_subnets, seed=2, store=store)
        ridge = RidgePredictor(alpha=1.0).fit(space.encode_many(tr_archs), tr_accs)
        fitted["ridge"] = ridge
        result.predictions["ridge"] = ridge.predict(space.encode_many(archs))
        by_form["ridge"] = quality_report(result.predictions["ridge"], accs)
    result.quality_by_form = by_form
    result.target_reliability = target_reliability(sub_ev, archs, store)


def fit_predictor(
    trained,
    cfg: PredictorConfig,
    store,
    *,
    seed: int = 0,
    worker_setup: Callable[[], tuple] | None = None,
    log: Callable[[str], None] | None = None,
    report_passes: int | None = None,
    compare_centers: bool = False,
) -> PredictorResult:
    """Fit the predictor of ``trained`` (a :class:`~budgetnas.training.trained.TrainedSupernet`)
    with ``cfg``, every evaluation read from or written to ``store``.

    With ``cfg.jobs > 1`` or ``cfg.executor == "ray"`` the evaluations the store lacks are
    measured first on that executor (:func:`~budgetnas.predictors.parallel.measure_on_executor`:
    the workers return records, this process writes them); each worker builds its evaluators
    with ``worker_setup`` (picklable, returning ``(evaluator, report evaluator, store)``;
    default: :func:`default_worker_setup`). ``report_passes`` overrides the
    report evaluator's passes (``predictor fit`` scores its subnets with 1, the run with
    ``cfg.passes``; the passes are part of the stored subnets' fingerprint).
    ``compare_centers`` adds the report of the BINAS form centred the other way
    (``binas_center_<other>``). Progress goes to ``log`` (default: standard error).
    """
    log = log or _stderr
    _check(cfg)
    ev, sub_ev = _evaluators(trained, cfg, seed, report_passes)
    if uses_executor(cfg):
        from budgetnas.executors.base import executor_from
        from budgetnas.predictors.parallel import measure_on_executor

        setup = worker_setup or default_worker_setup(trained, cfg, seed, report_passes)
        with executor_from(cfg) as executor:
            measure_on_executor(setup, executor, store, (ev, sub_ev), report_subnet_sets(cfg), log)
    fitted = _fit_forms(ev, cfg, store, log)
    binas, pred = fitted["binas"], fitted[cfg.form]
    result = PredictorResult(
        form=pred.quadratic_form(),
        searched=cfg.form,
        intercept=binas.intercept_,
        center=cfg.center,
        sampling=cfg.sampling,
        measured_now=binas.n_measured_,
        fingerprint=binas.fingerprint_,
        interpretation=pred.interpretation(),
        paths_alpha=fitted["paths"].alpha_ if "paths" in fitted else None,
        predictor=pred,
        evaluator=ev,
        fitted=fitted,
    )
    if cfg.subnets > 0:
        _report(result, sub_ev, cfg, store, log, compare_centers)
    return result
