"""The lookup-table benchmark: a latency table against whole networks measured end to end.

``budgetnas bench lut`` (and ``budgetnas lut validate``, the same settings) runs
:func:`budgetnas.costs.validate.run_validation`: it writes the JSON of the comparison and the
scatter plot, and prints the share of networks within +-5% and +-10% of the table. The workflow
and its pieces live in :mod:`budgetnas.costs.validate`.

Example:
    >>> from budgetnas.bench._base import BENCHMARKS
    >>> BENCHMARKS.create("lut").config.__name__
    'ValidateConfig'
"""

from __future__ import annotations

import sys

from budgetnas.bench._base import register_benchmark
from budgetnas.costs.validate import ValidateConfig, ValidationRun, run_validation

__all__ = ["run", "summary"]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def summary(run: ValidationRun) -> str:
    """The numbers of the comparison and the files written (as ``budgetnas lut validate``)."""
    return run.summary()


@register_benchmark(
    "lut",
    "validate a latency table on whole networks measured end to end",
    ValidateConfig,
    summary=summary,
)
def run(cfg: ValidateConfig) -> ValidationRun:
    """Validate this machine's table under ``cfg`` (progress on stderr)."""
    return run_validation(cfg, progress=_say)
