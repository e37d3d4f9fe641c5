"""Many budgets cheaply: one solver call per budget on the same predictor form and cost models.

The cost model of the swept metric is resolved once (a latency table is loaded once) and every
budget value reuses it, so an extra budget costs one solver call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from budgetnas.costs._base import Constraint
from budgetnas.forms import QuadraticForm
from budgetnas.units import Budget, parse_budget


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """``"latency_ms=1.0,1.5,2.0"`` -> ``("latency_ms", [1.0, 1.5, 2.0])`` (canonical units)."""
    metric, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise ValueError(f"expected METRIC=V1,V2,... (e.g. latency_ms=1.0,1.5,2.0), got {text!r}")
    budgets = [parse_budget(f"{metric.strip()}<={v.strip()}") for v in values.split(",")]
    return budgets[0].metric, [b.limit for b in budgets]


def pareto(
    space,
    objective: QuadraticForm,
    metric: str,
    limits: Sequence[float],
    solver: str = "milp",
    fixed: Sequence[str | Budget] = (),
    solver_kwargs: dict | None = None,
    **ctx,
) -> list[dict]:
    """Best architecture under ``metric <= limit`` (and the ``fixed`` budgets) for every limit.

    A limit that no architecture meets gives a row with ``error`` instead of an architecture.
    """
    from budgetnas.costs.registry import resolve_cost
    from budgetnas.pipeline.search import build_constraints, search
    from budgetnas.search import InfeasibleBudgetError

    others = build_constraints(space, fixed, **ctx) if fixed else []
    if any(c.budget.metric == metric for c in others):
        raise ValueError(f"{metric} is both swept and fixed")
    cost = None
    rows = []
    for limit in limits:
        budget = Budget(metric, float(limit), f"{metric}<={limit}")
        if metric == "peak_kb" or cost is None:  # the peak form depends on the limit
            cost = resolve_cost(metric, space, limit=float(limit), **ctx)
        t = time.perf_counter()
        try:
            res = search(
                space,
                objective,
                solver=solver,
                solver_kwargs=solver_kwargs,
                constraints=[Constraint(budget, cost), *others],
            )
        except InfeasibleBudgetError as exc:
            rows.append({"limit": float(limit), "error": str(exc)})
            continue
        rows.append(
            {
                "limit": float(limit),
                "arch": str(res.arch),
                "predicted_accuracy": res.predicted,
                "budgets": [row.to_json() for row in res.budgets],
                "status": res.status,
                "solver_wall_s": time.perf_counter() - t,
            }
        )
    return rows


def load_run(run_dir: str | Path):
    """``(space, predictor form, run configuration)`` of a run directory."""
    from budgetnas.pipeline.config import load_run_config
    from budgetnas.predictors.fit import PredictorResult
    from budgetnas.spaces.mobilenet import MobileNetSpace

    cfg, _ = load_run_config(run_dir)
    form = PredictorResult.load(run_dir).form
    return MobileNetSpace(preset=cfg.train.preset), form, cfg


__all__ = ["load_run", "pareto", "parse_sweep"]
