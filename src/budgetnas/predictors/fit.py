"""Placeholder of the predictor's configuration until the fitting workflow lands here."""

from __future__ import annotations

from dataclasses import dataclass

from budgetnas.config import option

__all__ = ["PredictorConfig"]


@dataclass
class PredictorConfig:
    heldout: int | None = option(500, "held-out images of the predictor's expectations")
    batch: int = option(250, "held-out images per random path (smaller: more paths)")
    passes: int = option(1, "passes over the held-out batches")
    sampling: str = option("independent", "paths", choices=("independent", "paired"))
    form: str = option("paths", "the form searched", choices=("paths", "binas"))
    center: str = option("depth", "centering", choices=("depth", "a0"))
    jobs: int = option(1, "processes")
    subnets: int = option(0, "random subnets of the quality report")
    subnet_heldout: int | None = option(None, "held-out images per report subnet")
    ridge_subnets: int = option(0, "subnets to fit a ridge model on")
