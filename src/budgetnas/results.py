"""Typed results shared by solvers, the closed loop, benchmarks and reports.

:class:`BudgetRow` is one budget of one architecture: the limit, the value the verdict rests on,
what was predicted (a table, a form) and what was measured, the slack, and how the value was
verified (``counted`` exactly, ``predicted`` by a table or form, or ``measured`` on a device).
Every place that reports a budget builds this one row, so a report never guesses keys.

Example:
    >>> from budgetnas.units import parse_budget
    >>> row = BudgetRow.of(parse_budget("latency_ms<=5"), predicted=4.2, measured=4.8)
    >>> row.ok, round(row.slack, 3), row.verified
    (True, 0.2, 'measured')
    >>> BudgetRow.from_json(row.to_json()) == row
    True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["VERIFICATIONS", "BudgetRow", "budget_rows", "read_result", "write_result"]

#: how a budget's value was obtained
VERIFICATIONS = ("counted", "predicted", "measured")


@dataclass(frozen=True)
class BudgetRow:
    """One budget of one architecture. ``value`` is what ``slack`` and ``ok`` are judged on: the
    measurement where there is one, else the prediction. ``ok`` needs the prediction to fit as
    well (a search that only fits by luck of one measurement is not trusted). ``solver_limit`` is
    the limit the solver was given (the closed loop tightens it after a measured violation)."""

    metric: str
    limit: float
    value: float
    slack: float
    ok: bool
    verified: str = "predicted"
    predicted: float | None = None
    measured: float | None = None
    solver_limit: float | None = None
    where: str | None = None  # the device or table a measurement or prediction comes from

    def __post_init__(self) -> None:
        if self.verified not in VERIFICATIONS:
            raise ValueError(
                f"unknown verification {self.verified!r}; one of {', '.join(VERIFICATIONS)}"
            )

    @property
    def feasible(self) -> bool:
        return self.ok

    @classmethod
    def of(
        cls,
        budget,
        predicted: float,
        measured: float | None = None,
        *,
        solver_limit: float | None = None,
        verified: str | None = None,
        where: str | None = None,
    ) -> BudgetRow:
        """The row of ``budget`` (a :class:`~budgetnas.units.Budget`) for a predicted (or
        counted: ``verified="counted"``) value and an optional measurement."""
        predicted = float(predicted)
        value = predicted if measured is None else float(measured)
        if verified is None:
            verified = "predicted" if measured is None else "measured"
        elif measured is not None:
            verified = "measured"
        return cls(
            metric=budget.metric,
            limit=float(budget.limit),
            value=value,
            slack=float(budget.slack(value)),
            ok=bool(budget.feasible(predicted) and budget.feasible(value)),
            verified=verified,
            predicted=predicted,
            measured=None if measured is None else float(measured),
            solver_limit=None if solver_limit is None else float(solver_limit),
            where=where,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``feasible`` repeats ``ok`` for readers of older records)."""
        return {**dataclasses.asdict(self), "feasible": self.ok}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BudgetRow:
        """Read a row, including the older untyped forms (``feasible`` for ``ok``; no
        ``value``: the measurement, else the prediction)."""
        if "metric" not in data or "limit" not in data:
            raise ValueError(f"not a budget row (needs metric and limit): {data!r}")
        predicted = data.get("predicted")
        measured = data.get("measured")
        value = data.get("value")
        if value is None:
            value = measured if measured is not None else predicted
        if value is None:
            raise ValueError(f"budget row of {data['metric']} has no value: {data!r}")
        if predicted is None and measured is None:
            predicted = value
        ok = data.get("ok", data.get("feasible"))
        if ok is None:
            raise ValueError(f"budget row of {data['metric']} has no verdict: {data!r}")
        verified = data.get("verified") or ("measured" if measured is not None else "predicted")
        return cls(
            metric=str(data["metric"]),
            limit=float(data["limit"]),
            value=float(value),
            slack=float(data.get("slack", float(data["limit"]) - float(value))),
            ok=bool(ok),
            verified=verified,
            predicted=None if predicted is None else float(predicted),
            measured=None if measured is None else float(measured),
            solver_limit=None if data.get("solver_limit") is None else float(data["solver_limit"]),
            where=data.get("where"),
        )


def budget_rows(
    constraints,
    arch,
    measured: dict[str, float] | None = None,
    solver_limits: dict[str, float] | None = None,
    where: dict[str, str] | None = None,
) -> list[BudgetRow]:
    """The rows of ``arch`` under ``constraints`` (:class:`~budgetnas.costs.Constraint`), with
    the measurements given per metric. A constraint's cost model says whether its value is
    ``counted`` (exact) or ``predicted`` (its ``verification`` attribute)."""
    measured = measured or {}
    solver_limits = solver_limits or {}
    where = where or {}
    rows = []
    for c in constraints:
        m = c.budget.metric
        rows.append(
            BudgetRow.of(
                c.budget,
                c.value(arch),
                measured.get(m),
                solver_limit=solver_limits.get(m),
                verified=getattr(c.cost, "verification", "predicted"),
                where=where.get(m),
            )
        )
    return rows


def write_result(data: dict[str, Any], path: str | Path, filename: str) -> Path:
    """Write a result's JSON to ``path`` (a folder: its ``filename``)."""
    from budgetnas.files import write_text_atomic

    path = Path(path)
    if path.is_dir():
        path = path / filename
    return write_text_atomic(path, json.dumps(data, indent=2, default=float))


def read_result(path: str | Path, filename: str, redo: str) -> tuple[Path, dict[str, Any]]:
    """``(file, its JSON)`` of a result at ``path`` (a folder: its ``filename``); a missing or
    unreadable file is an error that says ``redo`` (the command that writes it)."""
    path = Path(path)
    if path.is_dir():
        path = path / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {redo}")
    try:
        return path, json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc}): {redo}") from None
