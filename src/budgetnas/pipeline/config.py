"""The configuration of ``budgetnas run``: nested dataclasses, presets, TOML files.

:class:`RunConfig` holds the training configuration of its supernet (:class:`TrainConfig`), the
predictor's (:class:`~budgetnas.predictors.fit.PredictorConfig`), the search's
(:class:`SearchConfig`) and the fine-tuning's (:class:`FinetuneConfig`); no setting is copied from
one to another. A run is resolved in layers: the dataclass defaults, a preset (:data:`PRESETS`),
a TOML file, then the flags given. Every run writes its resolved configuration as
``config.toml``; ``budgetnas run --config RUN/config.toml --out NEW`` repeats it.

Example:
    >>> cfg = RunConfig.from_preset("tiny", budgets=["params_m<=1"])
    >>> cfg.train.preset, cfg.predictor.heldout, cfg.finetune.epochs
    ('tiny', 32, 1)
    >>> load_run_config_text(run_config_toml(cfg)) == cfg
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetnas.config import from_dict, load_toml, load_toml_text, option, resolve, to_toml
from budgetnas.predictors.fit import PredictorConfig
from budgetnas.training.config import TrainConfig

__all__ = [
    "CONFIG_FILE",
    "LEGACY_CONFIG_FILE",
    "PRESETS",
    "FinetuneConfig",
    "RunConfig",
    "SearchConfig",
    "load_run_config",
    "load_run_config_text",
    "run_config_toml",
]

CONFIG_FILE = "config.toml"
LEGACY_CONFIG_FILE = "run_config.json"  # flat settings written by runs before config.toml

#: the presets of ``budgetnas run --preset``, as nested tables of settings
PRESETS: dict[str, dict[str, Any]] = {
    # minutes on 2 CPU cores, on any dataset: the space follows the data, every search-train
    # image for 3 stage-A epochs, a stage-B epoch of 8,000 images, one fine-tuning epoch
    # (CIFAR-10 from its JPEG folder in about 17 minutes). No augmentation: in 3 epochs the
    # network is far from overfitting, and augmented images only slow its learning
    "quick": {
        "train": {
            "preset": "auto",
            "epochs_a": 3,
            "epochs_b": 1,
            "subset_b": 8000,
            "augment": False,
            "bn_batches": 2,
            "eval_subset": 500,  # per-epoch evaluation on the predictor's held-out images
        },
        "predictor": {
            "heldout": 250,
            "batch": 250,  # one random path per batch and expectation
            # the predictor's evaluations in 2 processes (the same values as in one, about twice
            # as fast on 2 cores); training and latency measurement stay on one thread
            "jobs": 2,
        },
        "search": {"lut_repeats": 10},
        "finetune": {"epochs": 1, "images": None},
    },
    # 48 minutes on 2 CPU cores for CIFAR-10 from its JPEG folder (74.5% test under 0.5 M
    # parameters): augmented training, 8 stage-A epochs, 3 stage-B epochs of 20,000 images, 3
    # fine-tuning epochs
    "long": {
        "train": {
            "preset": "auto",
            "epochs_a": 8,
            "epochs_b": 3,
            "subset_b": 20000,
            "bn_batches": 2,
            "eval_subset": 1000,
        },
        "predictor": {"heldout": 500, "batch": 250, "jobs": 2},
        "search": {"lut_repeats": 10},
        "finetune": {"epochs": 3, "images": None},
    },
    # `make demo`: the shipped supernet (no training) with the predictor's evaluations that
    # travel with it, fine-tuning on every search-train image, the Pareto front over latency and
    # the ResNet-20 baseline measured beside the found network
    "demo": {
        "supernet": "fmnist-small",
        "pareto": "latency_ms=3,3.5,4,4.5,5,6",
        "compare": ["resnet20-fmnist"],
        "train": {"bn_batches": 2},
        "predictor": {"heldout": 1000, "batch": 200, "jobs": 2, "subnets": 50},
        "search": {"lut_repeats": 10},
        "finetune": {"epochs": 2, "images": None},
    },
    # tests: the tiny space on synthetic data
    "tiny": {
        "train": {
            "preset": "tiny",
            "subset": 64,
            "epochs_a": 1,
            "epochs_b": 1,
            "max_steps": 2,
            "batch_size": 32,
            "bn_batches": 1,
            "eval_subset": 32,
        },
        "predictor": {"heldout": 32, "batch": 32, "subnets": 0},
        "search": {"lut_repeats": 2, "hardcore_steps": 6},
        "finetune": {"epochs": 1, "images": 64},
    },
}

#: settings of the flat configuration of earlier runs (``run_config.json``, the keyword
#: arguments of ``RunConfig.from_preset``) under their nested names; ``None``: not a setting
LEGACY_NAMES: dict[str, str | None] = {
    "space_preset": "preset",
    "predictor_subset": "heldout",
    "predictor_batch": "batch",
    "predictor_sampling": "sampling",
    "predictor_form": "form",
    "oneshot_subnets": "subnets",
    "oneshot_heldout": "subnet_heldout",
    "finetune_epochs": "epochs",
    "finetune_subset": "images",
    "finetune_lr": "lr",
    "preset": None,  # the run preset: a layer, not a setting
}


@dataclass
class SearchConfig:
    """How the network is searched and checked under the budgets."""

    solver: str = option(
        "milp",
        "milp, frank-wolfe, evolution, random (on the predictor) or hardcore (Frank-Wolfe on "
        "supernet gradients)",
    )
    hardcore_steps: int = option(200, "Frank-Wolfe steps of --solver hardcore")
    rerank: int = option(
        1,
        "take the predictor's K best distinct networks under the budgets (milp) and keep the one "
        "with the best one-shot accuracy (1: no re-ranking)",
    )
    max_rounds: int = option(3, "closed-loop rounds (measure, tighten, solve again)")
    lut_repeats: int = option(10, "timed repeats per latency-table entry and measurement")
    lut_threads: int = option(
        1,
        "CPU threads of the latency table and of every latency measurement: the latency that "
        "'latency_ms' means (training's threads never change it)",
    )
    lut_backend: str = option(
        "torch-cpu",
        "runtime of this machine's latency table and of its measurements, the latency that "
        "'latency_ms' means: torch-cpu (eager), onnxruntime (CPU provider) or torch-cuda (the "
        "GPU, CUDA events)",
        choices=("torch-cpu", "onnxruntime", "torch-cuda"),
    )
    devices: str = option(
        "runs/lut/lut.sqlite",
        "store of the device tables that budgets such as 'latency_pi4_ms<=30' read (`budgetnas "
        "lut import table.json --name pi4` writes them there); the run keeps a copy",
    )


@dataclass
class FinetuneConfig:
    """Fine-tuning of the found network with KL distillation from the heaviest path."""

    epochs: int = option(1, "fine-tuning epochs")
    images: int | None = option(None, "training images per fine-tuning epoch (none: all)")
    lr: float = option(0.01, "fine-tuning learning rate")


@dataclass
class RunConfig:
    """Every setting of one ``budgetnas run``."""

    budgets: list[str] = option(
        [], "a hard budget such as 'params_m<=0.3' or 'latency_ms<=2.0' (repeat for several)"
    )
    supernet: str | None = option(
        None,
        "reuse a trained supernet instead of training one: a registered name (`budgetnas "
        "supernet list`, e.g. fmnist-small) or a supernet.pt from `budgetnas train`",
    )
    pareto: str | None = option(
        None,
        "METRIC=V1,V2,...: after the search, the best network under each of these limits (with "
        "the other budgets), one solver call each, in result.json and the summary",
    )
    compare: list[str] = option(
        [],
        "a reference network measured beside the found one on the same test images and latency "
        "protocol: a registered baseline name (e.g. resnet20-fmnist) or a checkpoint of "
        "`budgetnas train-baseline` (repeat for several)",
    )
    train: TrainConfig = field(default_factory=TrainConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    @classmethod
    def from_preset(cls, preset: str = "quick", *layers: dict | None, **settings) -> RunConfig:
        """Preset ``preset``, then each layer of settings, then ``settings`` (flat names, the
        earlier flat names of :data:`LEGACY_NAMES` accepted; ``None`` values are skipped)."""
        if preset not in PRESETS:
            raise ValueError(f"unknown run preset {preset!r}; choose one of {', '.join(PRESETS)}")
        given = legacy_settings({k: v for k, v in settings.items() if v is not None})
        return resolve(cls, PRESETS[preset], *layers, given)


def legacy_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Flat settings of earlier runs under their nested names (:data:`LEGACY_NAMES`)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = LEGACY_NAMES.get(key, key)
        if name is not None:
            out[name] = value
    return out


def run_config_toml(cfg: RunConfig, preset: str | None = None) -> str:
    """``cfg`` as the TOML a run writes (``run_preset`` records the preset it started from)."""
    head = f'run_preset = "{preset}"\n' if preset else ""
    return head + to_toml(cfg)


def load_run_config_text(text: str) -> RunConfig:
    data = load_toml_text(text)
    preset = data.pop("run_preset", None)
    if preset is not None:
        return RunConfig.from_preset(preset, data)
    return from_dict(RunConfig, data)


def load_run_config(path: str | Path) -> tuple[RunConfig, str | None]:
    """The configuration of a TOML file or a run directory (``config.toml``, or the flat
    ``run_config.json`` of earlier runs), and the preset it started from."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is not a run directory or a configuration file")
    if path.is_dir():
        if (path / CONFIG_FILE).is_file():
            path = path / CONFIG_FILE
        elif (path / LEGACY_CONFIG_FILE).is_file():
            path = path / LEGACY_CONFIG_FILE
        else:
            raise FileNotFoundError(
                f"{path} is not a run directory (no {CONFIG_FILE}); run `budgetnas run --out "
                f"{path}` first"
            )
    if path.suffix == ".json":
        return _legacy_config(path)
    data = load_toml(path)
    preset = data.pop("run_preset", None)
    if preset is not None:
        return RunConfig.from_preset(preset, data), preset
    return from_dict(RunConfig, data), None


def _legacy_config(path: Path) -> tuple[RunConfig, str | None]:
    """A flat ``run_config.json``: every setting was written, so no preset is applied (the
    held-out images of the predictor were also those of the supernet's per-epoch evaluation)."""
    try:
        flat = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable run configuration: {exc}") from None
    preset = flat.get("preset")
    values = legacy_settings(flat)
    values.setdefault("eval_subset", values.get("heldout"))
    values.setdefault("device", "cpu")  # the one device of the releases that wrote it
    try:
        return from_dict(RunConfig, values), preset
    except ValueError as exc:
        raise ValueError(
            f"{path}: {exc}. Redo the run with `budgetnas run --out NEW ...` (the supernet can be "
            f"reused with --supernet {path.parent / 'supernet' / 'supernet.pt'})"
        ) from None
