"""The resolved configuration of a supernet training run (saved as ``config.json`` and in every
checkpoint). Importing it needs no torch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from budgetnas.config import from_dict, option
from budgetnas.data import resolved_name
from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Settings of ``budgetnas train``: stage A (heaviest path) then stage B (random paths with
    inner distillation from the frozen stage-A network, sandwich rule); see
    docs/methods/supernet.md."""

    data: str = option(
        "fashion-mnist",
        "fashion-mnist, cifar10, synthetic, folder:PATH (an image folder) or arrays:DIR",
    )
    preset: str = option(
        "auto",
        "space preset: auto (chosen from the data's resolution, channels and classes), "
        "fmnist-small, cifar-small, tiny, imagenet, or a derived name such as 64px-rgb-12cls",
    )
    data_dir: str | None = option(None, "dataset folder (default: $BUDGETNAS_DATA)")
    image_size: int | None = option(
        None, "folder data: image side in pixels (none: the most common size in the folder)"
    )
    strict: bool = option(
        False,
        "folder data: a file that cannot be decoded is an error (default: warned and skipped)",
    )
    subset: int | None = option(None, "training images used (from search-train; none: all)")
    subset_b: int | None = option(None, "training images per stage-B epoch (none: as stage A)")
    epochs_a: int = option(3, "stage-A epochs (the heaviest path)")
    epochs_b: int = option(1, "stage-B epochs (random paths)")
    batch_size: int = option(128, "training batch size")
    lr_a: float = option(0.1, "stage-A learning rate")
    lr_b: float = option(0.03, "stage-B learning rate")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(4e-5, "weight decay (not on BatchNorm and biases)")
    gamma: float = option(1.0, "weight of the inner distillation terms in stage B")
    sandwich: bool = option(
        True, "heaviest + smallest + random paths per step (--no-sandwich: one random path)"
    )
    n_random: int = option(1, "random paths per stage-B step")
    augment: bool = option(True, "training augmentation")
    bn_batches: int = option(20, "batches for BatchNorm recalibration before each evaluation")
    eval_subset: int | None = option(None, "held-out images per evaluation (none: all)")
    eval_batch_size: int = option(500, "evaluation batch size")
    eval_random: int = option(3, "random paths scored after every stage-B epoch (0: none)")
    inherit: bool = option(
        True,
        "start stage B's 3x3 kernels and (e, SE) BatchNorms from the heaviest path's trained "
        "weights (--no-inherit: from their random initialisation)",
    )
    stage_a_from: str | None = option(
        None,
        "take stage A (the trained heaviest path) from another run's supernet.pt and train "
        "stage B only",
    )
    max_steps: int | None = option(None, "cap on steps per epoch (tests, smoke runs)")
    seed: int = option(0, "random seed")
    threads: int = option(0, "torch CPU threads (0: every core)")
    channels_last: bool = option(
        True, "train in the channels-last memory format on CPU (faster; same values up to rounding)"
    )
    num_workers: int = option(0, "data loader workers")
    device: str = option("auto", DEVICE_HELP)
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def __post_init__(self) -> None:
        self.data = resolved_name(self.data)  # a folder's path absolute: saved configs reopen it
        if self.stage_a_from is not None and self.epochs_a:
            raise ValueError(
                f"stage_a_from replaces stage A: epochs_a must be 0, got {self.epochs_a}"
            )

    def same_training(self, other: TrainConfig) -> bool:
        """Whether ``other`` trains the same supernet: every setting equal but the device
        (a checkpoint continues, or is reused, on any device)."""
        return asdict(self) | {"device": ""} == asdict(other) | {"device": ""}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The configuration of a stored dict; unknown settings are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        if data.get("stage_a_from") is not None:  # set together: epochs_a is 0 with it
            return cls(**data)
        return from_dict(cls, data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text())["train"])
