"""The result of ``budgetnas run``: :class:`RunResult`, saved as ``result.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetnas.results import BudgetRow

__all__ = ["RESULT_FILE", "RunResult"]

RESULT_FILE = "result.json"


@dataclass
class RunResult:
    """The found network, every budget's row, its accuracies, the predictor's record, the export
    checks and each stage's wall time. ``closed_loop`` holds ``ok``, ``message`` and the rounds."""

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
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=2, default=float))
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunResult:
        """``result.json`` of a run directory (or the file itself), with a clear error."""
        path = Path(path)
        if path.is_dir():
            path = path / RESULT_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the run has not finished; rerun `budgetnas run --out "
                f"{path.parent}` (finished stages are reused)"
            )
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{path} is not a readable run result ({exc}); redo the run with `budgetnas run "
                f"--out NEW ...`"
            ) from None
