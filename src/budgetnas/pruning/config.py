"""The settings of one pruning run (``budgetnas prune``), as a typed configuration.

Every flag of ``budgetnas prune`` is one leaf field here, with the same name and default; the
settings are grouped in TOML tables ``[dataset]``, ``[selection]`` (how channels are chosen) and
``[finetune]`` (fine-tuning and the recovery between progressive steps). ``budgetnas prune``
writes the resolved configuration as ``config.toml`` beside its results, and ``budgetnas prune
--config OUT/config.toml`` runs it again. Importing this module does not import torch.

Example:
    >>> from budgetnas.config import from_dict, load_toml_text, resolve, to_toml
    >>> cfg = resolve(PruneConfig, {"model": "m.pt", "budget": "flops_ratio<=0.5", "steps": 1})
    >>> cfg.selection.steps, cfg.finetune.kl
    (1, 1.0)
    >>> from_dict(PruneConfig, load_toml_text(to_toml(cfg))) == cfg
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from budgetnas.config import option
from budgetnas.data import resolved_name
from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS

__all__ = ["FinetuneConfig", "PruneConfig", "PruneDataConfig", "SelectionConfig"]


@dataclass
class PruneDataConfig:
    """Images for importance, fine-tuning and accuracy."""

    data: str = option(
        "fashion-mnist",
        "dataset: fashion-mnist, cifar10, synthetic, folder:PATH (an image folder) or arrays:DIR",
    )
    data_dir: str | None = option(None, "folder holding the dataset folders")
    image_size: int | None = option(
        None, "folder data: image side in pixels (none: the most common size in the folder)"
    )
    strict: bool = option(
        False,
        "folder data: a file that cannot be decoded is an error (default: warned and skipped)",
    )
    subset: int | None = option(None, "N training images for importance and fine-tuning")
    eval_subset: int | None = option(None, "N test images for accuracy")
    batch_size: int = option(128, "batch size of importance, recovery and fine-tuning")

    def __post_init__(self) -> None:
        self.data = resolved_name(self.data)  # a folder's path absolute: saved configs reopen it


@dataclass
class SelectionConfig:
    """How the kept channels are chosen: importance, knapsack, progressive steps."""

    importance: str = option("taylor", "channel importance", choices=("taylor", "magnitude"))
    batches: int = option(16, "batches for Taylor importance")
    solver: str = option("dp", "knapsack solver", choices=("dp", "milp", "greedy"))
    min_keep: float = option(0.1, "fraction of each group always kept")
    steps: int = option(
        4,
        "knapsack steps on a geometric schedule of budgets, importance re-measured before each "
        "(1: one shot)",
    )
    calibrate: float | None = option(
        0.5,
        "rescale each group's scores to the measured loss change of removing this fraction of "
        "it (0: off)",
    )
    # option() gives list defaults a default_factory
    ignore: list[str] = option([], "layer name not to prune (repeat)")
    output_layer: list[str] = option([], "layer producing the outputs (repeat)")


@dataclass
class FinetuneConfig:
    """Fine-tuning with inner distillation from the parent, and the recovery between steps."""

    epochs: int = option(1, "fine-tuning epochs")
    lr: float = option(0.01, "fine-tuning learning rate (SGD, cosine schedule)")
    gamma: float = option(0.1, "weight of the block-output MSE (0: off)")
    kl: float = option(1.0, "weight of KL to the parent's logits")
    temperature: float = option(4.0, "temperature of the KL term")
    recover: int | None = option(
        None,
        "distillation batches after each step but the last, taken from the fine-tuning total "
        "(none: 30, at most a third of that total split over the steps)",
    )


@dataclass
class PruneConfig:
    """Settings of :func:`budgetnas.pruning.run.prune` (``model``, ``budget`` and ``out`` are
    required)."""

    model: str | None = option(
        None,
        "(required) checkpoint: budgetnas train-baseline .pt, a pickled nn.Module, a TorchScript "
        "file (traced), or a state dict with --model-class",
    )
    model_class: str | None = option(None, "package.module:Class for a state dict")
    model_kwargs: str = option("{}", "JSON constructor kwargs for --model-class")
    trust_file: bool = option(
        False,
        "load --model even if it is a pickled nn.Module (e.g. a pruned.pt): unpickling runs any "
        "code the file holds, so only for files you made or trust",
    )
    budget: str | None = option(
        None,
        "(required) e.g. 'flops_ratio<=0.5', 'params_m<=0.1', 'latency_ms<=2' (CPU, batch 1, "
        "1 thread, measured here)",
    )
    out: str | None = option(None, "(required) output folder")
    seed: int = option(0, "seed of the data subsets, shuffling and initialisation")
    threads: int = option(1, "torch CPU threads")
    dataset: PruneDataConfig = field(default_factory=PruneDataConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    device: str = option(
        "auto",
        DEVICE_HELP + "; the fine-tuning and the accuracies run there, the channel selection on "
        "the CPU",
    )
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def missing(self) -> list[str]:
        """The required settings not given."""
        return [name for name in ("model", "budget", "out") if getattr(self, name) is None]
