"""Time the exact MILP on the 30-binary NAS-Bench-201 problem with pairwise predictor terms.

``budgetnas bench milp`` fits a pairwise ridge predictor on random cells of the table, then times
``milp`` for every cost column and budget quantile, checking each answer against enumeration.
With ``json_out`` the rows are written as ``{"rows": [...]}``.

Example:
    >>> cfg = MilpBenchConfig(table="nb201.csv", cost=["lat_pixel3_ms"], repeats=2)
    >>> cfg.objective, cfg.budget_quantiles
    ('valid_acc', [0.1, 0.25, 0.5])
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.bench._base import register_benchmark
from budgetnas.config import option

__all__ = ["MilpBenchConfig", "MilpTiming", "default_table", "run", "run_milp_timing", "summary"]

COSTS = ["lat_fpga_ms", "lat_eyeriss_ms", "lat_pixel3_ms", "lat_raspi4_ms"]


def default_table() -> str | None:
    """``$BUDGETNAS_DATA/nb201/nb201_cifar10.csv`` where it exists."""
    root = os.environ.get("BUDGETNAS_DATA")
    if root and (Path(root) / "nb201" / "nb201_cifar10.csv").is_file():
        return str(Path(root) / "nb201" / "nb201_cifar10.csv")
    return None


@dataclass
class MilpBenchConfig:
    """Settings of the MILP timing (the flags of ``budgetnas bench milp``)."""

    table: str | None = option(
        None, "NAS-Bench-201 CSV; none: $BUDGETNAS_DATA/nb201/nb201_cifar10.csv"
    )
    objective: str = option("valid_acc", "column the predictor is fitted to")
    # option() gives list defaults a default_factory: each configuration has its own list
    cost: list[str] = option(list(COSTS), "cost column(s); repeat or comma-separate", sep=",")
    budget_quantiles: list[float] = option(
        [0.1, 0.25, 0.5],
        "budgets as quantiles of each cost column",
        flag="budget-quantiles",
        sep=",",
    )
    repeats: int = option(20, "timed solves per budget")
    json_out: str | None = option(None, "JSON file of the rows", flag="json")


@dataclass
class MilpTiming:
    """One row per (cost, quantile): budget, sizes, median and max solve time, share optimal and
    share agreeing with enumeration."""

    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MilpTiming:
        return cls(list(data["rows"]))


def _fit_objective(space, table, objective: str, n_fit: int, seed: int):
    from budgetnas.predictors import RidgePredictor
    from budgetnas.spaces.table import pair_indices

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(table.archs), size=n_fit, replace=False)
    archs = [table.archs[k] for k in rows]
    model = RidgePredictor(alpha=1.0, pairs=pair_indices(space)).fit(
        space.encode_many(archs), table.values(objective, archs)
    )
    return model.quadratic_form()


def _time_budget(problem, repeats: int) -> dict[str, Any]:
    """Solve ``problem`` ``repeats`` times with a fresh ``milp``; compare with enumeration."""
    from budgetnas.search import create_solver

    exact = create_solver("exhaustive", use_query=False).solve(problem)
    times, statuses, agree = [], [], 0
    for _ in range(repeats):
        solver = create_solver("milp", time_limit=60.0)
        start = time.perf_counter()
        result = solver.solve(problem)
        times.append(time.perf_counter() - start)
        statuses.append(result.status)
        agree += abs(result.objective - exact.objective) <= 1e-6 * max(1, abs(exact.objective))
    return {
        "median_s": float(np.median(times)),
        "max_s": float(np.max(times)),
        "optimal": statuses.count("optimal") / repeats,
        "agrees_with_enumeration": agree / repeats,
    }


def run_milp_timing(
    table_path: str,
    objective: str,
    costs: list[str],
    quantiles: list[float],
    repeats: int = 20,
    n_fit: int = 100,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Fit a pairwise ridge predictor on ``n_fit`` random cells, then time ``milp`` per budget.

    Each timed solve starts from a fresh solver (no cached cuts) and includes building the
    program; the achievability check is done once beforehand (it is per budget, not per solve).
    """
    from budgetnas.costs._base import Constraint
    from budgetnas.search import Problem
    from budgetnas.spaces import get_space
    from budgetnas.spaces.table import Table
    from budgetnas.units import Budget

    space = get_space("nb201")
    table = Table.from_csv(table_path, space)
    form = _fit_objective(space, table, objective, n_fit, seed)
    out = []
    for cost in costs:
        model_cost = table.cost(cost)
        model_cost.quadratic_form()
        for q in quantiles:
            limit = float(np.quantile(table.column(cost), q))
            problem = Problem(space, [Constraint(Budget(cost, limit), model_cost)], objective=form)
            timing = _time_budget(problem, repeats)
            out.append(
                {
                    "cost": cost,
                    "quantile": q,
                    "budget": limit,
                    "binaries": space.n_binaries,
                    "pair_terms": int(form.pair_w.size),
                    "exact_cost_form": model_cost.exact_form,
                    **timing,
                }
            )
    return out


def summary(result: MilpTiming) -> str:
    """The table printed by ``budgetnas bench milp``, with the median over all budgets."""
    rows = result.rows
    lines = [
        f"{'cost':<16} {'q':>5} {'budget':>8} {'pairs':>5} {'exact':>5} {'median_ms':>9} "
        f"{'max_ms':>8} {'optimal':>7} {'=enum':>6}"
    ]
    for r in rows:
        lines.append(
            f"{r['cost']:<16} {r['quantile']:>5g} {r['budget']:>8.4g} {r['pair_terms']:>5d} "
            f"{r['exact_cost_form']!s:>5} {1e3 * r['median_s']:>9.1f} {1e3 * r['max_s']:>8.1f} "
            f"{100 * r['optimal']:>6.0f}% {100 * r['agrees_with_enumeration']:>5.0f}%"
        )
    lines.append(
        f"median over all budgets: {1e3 * np.median([r['median_s'] for r in rows]):.1f} ms"
    )
    return "\n".join(lines)


@register_benchmark(
    "milp", "time the exact MILP on the NAS-Bench-201 problem", MilpBenchConfig, summary=summary
)
def run(cfg: MilpBenchConfig) -> MilpTiming:
    """Time the MILP under ``cfg``; writes ``{"rows": [...]}`` to ``cfg.json_out`` when given."""
    table = cfg.table or default_table()
    if not table:
        raise FileNotFoundError(
            "no table given: pass --table PATH or set BUDGETNAS_DATA to the folder holding "
            "nb201/nb201_cifar10.csv"
        )
    rows = run_milp_timing(table, cfg.objective, cfg.cost, cfg.budget_quantiles, cfg.repeats)
    result = MilpTiming(rows)
    if cfg.json_out:
        Path(cfg.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.json_out).write_text(json.dumps(result.to_json(), indent=1))
    return result
