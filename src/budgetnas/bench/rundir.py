"""What the benchmarks read of a finished ``budgetnas run`` directory.

A run directory holds the run's settings (``config.toml``, ``run_config.json`` before it), its predictor's form
(``predictor.json``), its trained supernet (``supernet/supernet.pt``) and its store. Each is read
here by one small function, so that a change of the directory's format changes this module only;
:func:`pipeline_finetune` is the benchmarks' one use of :class:`budgetnas.pipeline.run.Pipeline`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

__all__ = ["open_run_supernet", "pipeline_finetune", "run_form", "run_settings"]


def _need(path: Path, run_dir: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `budgetnas run --out {run_dir}` first")
    return path


def run_settings(run_dir: str | Path):
    """The run's configuration (:class:`~budgetnas.pipeline.config.RunConfig`): its
    ``config.toml``, or the flat ``run_config.json`` of earlier runs."""
    from budgetnas.pipeline.config import load_run_config

    return load_run_config(run_dir)[0]


def run_form(run_dir: str | Path):
    """The run's fitted predictor: a :class:`~budgetnas.forms.QuadraticForm`."""
    from budgetnas.forms import QuadraticForm

    run_dir = Path(run_dir)
    return QuadraticForm.from_dict(
        json.loads(_need(run_dir / "predictor.json", run_dir).read_text())
    )


def open_run_supernet(run_dir: str | Path, settings):
    """The run's trained supernet (:class:`~budgetnas.training.trained.TrainedSupernet`) with the
    run's data and recalibration settings, so that its batches and evaluators are the run's own
    (a run reusing a supernet trained elsewhere evaluates it on its own data settings)."""
    from budgetnas.pipeline.run import Pipeline
    from budgetnas.spaces.mobilenet import MobileNetSpace

    trained = Pipeline(settings, run_dir, log=lambda msg: None).open().trained
    if trained.space.config != MobileNetSpace(preset=settings.train.preset).config:
        raise ValueError("the run's supernet and its configuration name different spaces")
    return trained


def pipeline_finetune(run_dir: str | Path, settings, log=None) -> Callable:
    """The run's own fine-tuning, ``finetune(arch, epochs, subset, evaluator=ev) -> (network,
    accuracies)``: :meth:`Pipeline.finetune` of the reopened run (KL distillation from the
    heaviest path, the run's learning rate, batch size and step cap, its test images)."""
    from budgetnas.pipeline.run import Pipeline

    return Pipeline(settings, run_dir, log=log).open().finetune
