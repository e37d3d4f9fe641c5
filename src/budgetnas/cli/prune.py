"""``budgetnas prune``: knapsack channel pruning to a budget, then inner-distillation fine-tuning.

The flags are the fields of :class:`budgetnas.pruning.config.PruneConfig`; ``--config FILE.toml``
reads them from a file (flags given override it). The work is
:func:`budgetnas.pruning.run.prune`, which writes to ``--out``: ``pruned.pt`` (the whole pruned
module: a pickle, which only a trusted reader loads: ``torch.load(path, weights_only=False)``, or
``--model pruned.pt --trust-file`` here; needs the model's class importable),
``pruned.ts`` (TorchScript trace, ``torch.jit.load(path)``, needs nothing), ``pruned.onnx``
(checked with onnxruntime), ``result.json``, ``config.toml`` (the resolved configuration:
``budgetnas prune --config OUT/config.toml`` repeats the run) and ``config.json``.
"""

from __future__ import annotations

import argparse

from budgetnas.cli.command import add_command
from budgetnas.config import config_from_args as _resolve
from budgetnas.pruning.config import PruneConfig

__all__ = ["config_from_args", "register", "run"]


def register(subparsers) -> None:
    add_command(
        subparsers,
        "prune",
        help="prune a trained CNN's channels to a budget and fine-tune it",
        description="Knapsack channel pruning (Taylor importance, groups from torch-pruning's "
        "dependency graph) to a budget on flops/macs/params/latency, real channel removal, then "
        "fine-tuning with inner distillation from the parent.",
        func=run,
        config=PruneConfig,
    )


def config_from_args(args: argparse.Namespace) -> PruneConfig:
    """The defaults, then the ``--config`` file, then the flags given."""
    return _resolve(PruneConfig, args)


def run(args: argparse.Namespace) -> int:
    from budgetnas.pruning.run import prune

    cfg = config_from_args(args)
    result = prune(cfg, log=lambda s: print(s, flush=True))
    if result is not None:  # under torchrun, rank 0 alone reports
        print(result.summary(cfg.out), flush=True)
    return 0
