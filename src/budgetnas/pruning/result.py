"""What one pruning run found and measured: :class:`PruneResult`, the ``result.json`` it writes.

``to_json()`` is exactly the dictionary ``budgetnas prune`` writes (same keys, same order) and
``from_json()`` reads it back, from files of earlier versions too. Importing this module does not
import torch.

Example:
    >>> res = PruneResult.from_json(
    ...     {"model": "m.pt", "budget": {"metric": "flops_ratio", "limit": 0.5, "value": 0.48},
    ...      "accuracy": {"parent": 0.9, "pruned_after_finetune": 0.88}}
    ... )
    >>> res.budget.value, res.accuracy.pruned_after_finetune
    (0.48, 0.88)
    >>> PruneResult.from_json(res.to_json()) == res
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["PruneAccuracy", "PruneMethod", "PruneResult", "PrunedBudget"]


def _known(cls, data: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class PrunedBudget:
    """The budget and its metric measured on the pruned network (before fine-tuning, which does
    not change the shape)."""

    text: str = ""
    metric: str = ""
    limit: float = 0.0
    value: float = 0.0
    slack: float = 0.0
    feasible: bool = False
    parent_value: float = 0.0
    solves: int = 0


@dataclass
class PruneAccuracy:
    """Top-1 test accuracy of the parent and of the pruned network before and after fine-tuning."""

    parent: float = 0.0
    pruned_before_finetune: float = 0.0
    pruned_after_finetune: float = 0.0
    test_images: int = 0


@dataclass
class PruneMethod:
    """How the network was pruned and fine-tuned."""

    importance: str = "taylor"
    solver: str = "dp"
    knapsack_steps: int = 1
    calibrate: float | None = None
    step_limits: list[float] = field(default_factory=list)
    recovery_batches: int = 0
    recovery_batches_per_step: int = 0
    distillation: dict[str, float] = field(default_factory=dict)  # gamma, kl, temperature
    finetune_epochs: int = 0
    train_images: int = 0
    finetune_losses: list[float] = field(default_factory=list)


@dataclass
class PruneResult:
    """The outcome of :func:`budgetnas.pruning.run.prune`. ``network`` is the fine-tuned pruned
    module itself (not serialised; ``None`` when read back from JSON)."""

    model: str = ""  # the parent's checkpoint as given
    source: dict[str, Any] = field(default_factory=dict)  # how the parent was loaded
    data: str = ""
    input_shape: list[int] = field(default_factory=list)
    budget: PrunedBudget = field(default_factory=PrunedBudget)
    counts: dict[str, Any] = field(default_factory=dict)  # before / after / convention
    latency: dict[str, Any] = field(default_factory=dict)
    accuracy: PruneAccuracy = field(default_factory=PruneAccuracy)
    method: PruneMethod = field(default_factory=PruneMethod)
    groups: list[dict] = field(default_factory=list)  # per parent channel group: kept widths
    not_pruned: list[str] = field(default_factory=list)
    unwrapped_parameters_left_alone: list = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    network: Any = field(default=None, repr=False, compare=False)

    _SECTIONS: ClassVar[dict[str, type]] = {
        "budget": PrunedBudget,
        "accuracy": PruneAccuracy,
        "method": PruneMethod,
    }

    def to_json(self) -> dict[str, Any]:
        """The ``result.json`` dictionary (everything but ``network``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "network":
                continue
            value = getattr(self, f.name)
            out[f.name] = dataclasses.asdict(value) if f.name in self._SECTIONS else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PruneResult:
        """A result from its ``result.json`` dictionary (unknown keys ignored)."""
        values = _known(cls, data)
        values.pop("network", None)
        for name, section in cls._SECTIONS.items():
            if name in values:
                values[name] = section(**_known(section, values[name]))
        return cls(**values)

    def summary(self, out: str | None = None) -> str:
        """The line ``budgetnas prune`` prints at the end."""
        before, after = self.counts.get("before", {}), self.counts.get("after", {})
        acc = self.accuracy
        text = (
            f"accuracy parent {acc.parent:.4f}, pruned {acc.pruned_before_finetune:.4f}, "
            f"fine-tuned {acc.pruned_after_finetune:.4f}; FLOPs {before.get('flops_m', 0):.2f}M "
            f"-> {after.get('flops_m', 0):.2f}M, params {before.get('params_m', 0):.4f}M -> "
            f"{after.get('params_m', 0):.4f}M"
        )
        return f"{text}; wrote {out}" if out is not None else text
