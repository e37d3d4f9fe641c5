"""The result of ``budgetnas run``: :class:`RunResult`, saved as ``result.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetnas.results import BudgetRow, read_result, write_result

__all__ = ["RESULT_FILE", "RunResult"]

RESULT_FILE = "result.json"


@dataclass
class RunResult:
    """The found network, every budget's row, its accuracies, the predictor's record, the export
    checks and each stage's wall time. ``closed_loop`` holds ``ok``, ``message`` and the rounds;
    ``pareto`` the best network per extra limit (``--pareto``), ``compare`` the found network
    beside the reference networks (``--compare``), each with its test accuracy, counts and
    measured latency; ``dataset`` what the network was trained on (name, shape, class names,
    normalization, split sizes and how the splits were made); ``devices`` every device a budget
    names: its table, the table's verdict on the device, the device's measurement of the found
    network (None: predicted only) and the verification kit to measure it with."""

    arch: str
    space_preset: str
    data: str
    solver: str
    budgets: list[BudgetRow]
    closed_loop: dict[str, Any]
    predicted_accuracy: float | None
    oneshot_heldout_acc: float
    finetuned_heldout_acc: float
    test_acc: float
    rerank: int = 1
    predictor: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    pareto: list[dict[str, Any]] = field(default_factory=list)
    compare: list[dict[str, Any]] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.closed_loop.get("ok", all(r.ok for r in self.budgets)))

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "space_preset": self.space_preset,
            "data": self.data,
            "solver": self.solver,
            "rerank": self.rerank,
            "budgets": [row.to_json() for row in self.budgets],
            "closed_loop": self.closed_loop,
            "predicted_accuracy": self.predicted_accuracy,
            "oneshot_heldout_acc": self.oneshot_heldout_acc,
            "finetuned_heldout_acc": self.finetuned_heldout_acc,
            "test_acc": self.test_acc,
            "predictor": self.predictor,
            "export": self.export,
            "wall_s": self.wall_s,
            "pareto": self.pareto,
            "compare": self.compare,
            "dataset": self.dataset,
            "devices": self.devices,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        missing = {"arch", "space_preset", "budgets", "test_acc"} - set(data)
        if missing:
            raise ValueError(f"not a run result: missing {', '.join(sorted(missing))}")
        return cls(
            arch=data["arch"],
            space_preset=data["space_preset"],
            data=data.get("data", "?"),
            solver=data.get("solver", "?"),
            rerank=int(data.get("rerank", 1)),
            budgets=[BudgetRow.from_json(r) for r in data["budgets"]],
            closed_loop=dict(data.get("closed_loop") or {}),
            predicted_accuracy=data.get("predicted_accuracy"),
            oneshot_heldout_acc=data.get("oneshot_heldout_acc"),
            finetuned_heldout_acc=data.get("finetuned_heldout_acc"),
            test_acc=data["test_acc"],
            predictor=dict(data.get("predictor") or {}),
            export=dict(data.get("export") or {}),
            wall_s=dict(data.get("wall_s") or {}),
            pareto=list(data.get("pareto") or []),
            compare=list(data.get("compare") or []),
            dataset=dict(data.get("dataset") or {}),
            devices=dict(data.get("devices") or {}),
        )

    def save(self, path: str | Path) -> Path:
        return write_result(self.to_json(), path, RESULT_FILE)

    @classmethod
    def load(cls, path: str | Path) -> RunResult:
        """``result.json`` of a run directory (or the file itself), with a clear error."""
        redo = "rerun `budgetnas run --out RUN` (finished stages are reused)"
        path, data = read_result(path, RESULT_FILE, redo)
        try:
            return cls.from_json(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{path} is not a readable run result ({exc}); redo the run with `budgetnas run "
                f"--out NEW ...`"
            ) from None
