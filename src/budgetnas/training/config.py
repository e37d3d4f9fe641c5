"""The resolved configuration of a supernet training run (saved as ``config.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass
class TrainConfig:
    """Settings of ``budgetnas train``: stage A (heaviest path) then stage B (random paths with
    inner distillation from the frozen stage-A network, sandwich rule)."""

    data: str = "fashion-mnist"
    preset: str = "fmnist-small"
    data_dir: str | None = None
    subset: int | None = None  # training images used (from search-train), None = all
    subset_b: int | None = None  # training images per stage-B epoch, None = same as stage A
    epochs_a: int = 3
    epochs_b: int = 1
    batch_size: int = 128
    lr_a: float = 0.1
    lr_b: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 4e-5
    gamma: float = 1.0  # weight of the inner distillation terms in stage B
    sandwich: bool = True  # heaviest + smallest + random paths per step; else one random path
    n_random: int = 1  # random paths per stage-B step
    augment: bool = True
    bn_batches: int = 20  # batches for BatchNorm recalibration before each evaluation
    eval_subset: int | None = None  # held-out images used for per-epoch evaluation
    eval_batch_size: int = 500
    eval_random: int = 3  # fixed random paths scored after every stage-B epoch (mean, min, max)
    inherit: bool = True  # stage B starts the 3x3 kernels and (e, SE) BNs from the heaviest's
    stage_a_from: str | None = None  # take stage A from this checkpoint instead of training it
    max_steps: int | None = None  # cap on steps per epoch (tests, smoke runs)
    seed: int = 0
    threads: int = 1
    num_workers: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.stage_a_from is not None and self.epochs_a:
            raise ValueError(
                f"stage_a_from replaces stage A: epochs_a must be 0, got {self.epochs_a}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text())["train"])
