"""The settings of ``budgetnas committee`` (:func:`budgetnas.committee.run.build_committee`).
Importing this module does not import torch."""

from __future__ import annotations

from dataclasses import dataclass

from budgetnas.config import option
from budgetnas.executors.base import ray_address_option, ray_gpus_option

__all__ = ["CommitteeConfig"]


@dataclass
class CommitteeConfig:
    """Candidates from a finished run's supernet (and the user's own networks), and the
    committees chosen among them under the budgets."""

    run: str | None = option(None, "(required) the run directory of `budgetnas run`")
    out: str | None = option(None, "(required) output folder")
    budgets: list[str] = option(
        [],
        "(required, repeat) committee budget: 'latency_ms<=4' limits the expected cost per "
        "held-out image, 'worst_latency_ms<=12' the cost when every member runs; params_m counts "
        "every member",
        flag="budget",
    )
    candidates: int = option(6, "networks taken from the supernet, at graded FLOPs budgets")
    models: list[str] = option(
        [],
        "the user's own network as a candidate: TorchScript, a budgetnas .pt or ONNX (repeat)",
        flag="model",
    )
    kinds: list[str] = option(
        ["single", "ensemble", "cascade"], "committee kinds to choose (comma-separated)", sep=","
    )
    max_members: int = option(3, "most members of an ensemble or a cascade")
    grid: int = option(48, "thresholds tried per cascade member (quantiles of its confidences)")
    epochs: int = option(1, "fine-tuning epochs of every candidate (the run's recipe)")
    images: int | None = option(None, "fine-tuning images per candidate (none: the run's)")
    heldout: int | None = option(None, "held-out images the committees are chosen on (none: all)")
    latency_images: int = option(200, "test images the exported committee is timed on, batch 1")
    repeats: int = option(7, "interleaved repeats of the latency measurements")
    device: str | None = option(None, "device of fine-tuning and scoring (none: the run's)")
    jobs: int = option(1, "candidates fine-tuned at once (local processes, or Ray tasks)")
    executor: str = option("local", "where candidates are fine-tuned with --jobs: local or ray")
    ray_address: str | None = ray_address_option()
    ray_gpus: float = ray_gpus_option()

    def missing(self) -> list[str]:
        return [n for n in ("run", "out", "budgets") if not getattr(self, n)]
