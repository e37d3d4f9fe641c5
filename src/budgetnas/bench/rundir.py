"""What the benchmarks read of a finished ``budgetnas run`` directory.

A run directory holds the run's settings (``run_config.json``), its predictor's form
(``predictor.json``), its trained supernet (``supernet/supernet.pt``) and its store. Each is read
here by one small function, so that a change of the directory's format changes this module only;
:func:`pipeline_finetune` is the benchmarks' one use of :class:`budgetnas.pipeline.run.Pipeline`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["open_run_supernet", "pipeline_finetune", "run_form", "run_settings"]

# the settings of the run that shape its data and BatchNorm recalibration
_DATA_SETTINGS = ("data_dir", "subset", "batch_size", "bn_batches", "seed")


def _need(path: Path, run_dir: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `budgetnas run --out {run_dir}` first")
    return path


def run_settings(run_dir: str | Path) -> dict[str, Any]:
    """The run's settings (the fields of ``RunConfig``, its defaults for those an older run did
    not write; settings it no longer knows are dropped)."""
    from budgetnas.pipeline.run import RunConfig

    run_dir = Path(run_dir)
    saved = json.loads(_need(run_dir / "run_config.json", run_dir).read_text())
    defaults = dataclasses.asdict(RunConfig())
    return {**defaults, **{k: v for k, v in saved.items() if k in defaults}}


def run_form(run_dir: str | Path):
    """The run's fitted predictor: a :class:`~budgetnas.forms.QuadraticForm`."""
    from budgetnas.forms import QuadraticForm

    run_dir = Path(run_dir)
    return QuadraticForm.from_dict(
        json.loads(_need(run_dir / "predictor.json", run_dir).read_text())
    )


def open_run_supernet(run_dir: str | Path, settings: dict[str, Any]):
    """The run's trained supernet (:class:`~budgetnas.training.trained.TrainedSupernet`) with the
    run's data and recalibration settings, so that its batches and evaluators are the run's own
    (a run reusing a supernet trained elsewhere evaluates it on its own data settings)."""
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.training.trained import TrainedSupernet

    trained = TrainedSupernet.open(run_dir)
    if trained.train.data != settings["data"]:
        raise ValueError(
            f"the supernet of {run_dir} was trained on {trained.train.data!r}, the run names "
            f"{settings['data']!r}"
        )
    if trained.space.config != MobileNetSpace(preset=settings["space_preset"]).config:
        raise ValueError("the run's supernet and run_config.json name different spaces")
    train = dataclasses.replace(trained.train, **{k: settings[k] for k in _DATA_SETTINGS})
    return TrainedSupernet(trained.net, train, trained.path, trained.state)


def pipeline_finetune(run_dir: str | Path, settings: dict[str, Any], log=None) -> Callable:
    """The run's own fine-tuning, ``finetune(arch, epochs, subset, evaluator=ev) -> (network,
    accuracies)``: :meth:`Pipeline.finetune` of the reopened run (KL distillation from the
    heaviest path, the run's learning rate, batch size and step cap, its test images)."""
    from budgetnas.pipeline.run import Pipeline, RunConfig

    return Pipeline(RunConfig(**settings), run_dir, log=log).open().finetune
