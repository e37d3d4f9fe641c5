"""Time the exact MILP on the 30-binary NAS-Bench-201 problem with pairwise predictor terms."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from budgetnas.costs._base import Constraint
from budgetnas.predictors import RidgePredictor
from budgetnas.search import Problem, create_solver
from budgetnas.spaces import get_space
from budgetnas.spaces.table import Table, pair_indices
from budgetnas.units import Budget


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
    space = get_space("nb201")
    table = Table.from_csv(table_path, space)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(table.archs), size=n_fit, replace=False)
    archs = [table.archs[k] for k in rows]
    model = RidgePredictor(alpha=1.0, pairs=pair_indices(space)).fit(
        space.encode_many(archs), table.values(objective, archs)
    )
    form = model.quadratic_form()
    out = []
    for cost in costs:
        model_cost = table.cost(cost)
        model_cost.quadratic_form()
        for q in quantiles:
            limit = float(np.quantile(table.column(cost), q))
            problem = Problem(space, [Constraint(Budget(cost, limit), model_cost)], objective=form)
            exact = create_solver("exhaustive", use_query=False).solve(problem)
            times, statuses, agree = [], [], 0
            for _ in range(repeats):
                solver = create_solver("milp", time_limit=60.0)
                start = time.perf_counter()
                result = solver.solve(problem)
                times.append(time.perf_counter() - start)
                statuses.append(result.status)
                agree += abs(result.objective - exact.objective) <= 1e-6 * max(
                    1, abs(exact.objective)
                )
            out.append(
                {
                    "cost": cost,
                    "quantile": q,
                    "budget": limit,
                    "binaries": space.n_binaries,
                    "pair_terms": int(form.pair_w.size),
                    "exact_cost_form": model_cost.exact_form,
                    "median_s": float(np.median(times)),
                    "max_s": float(np.max(times)),
                    "optimal": statuses.count("optimal") / repeats,
                    "agrees_with_enumeration": agree / repeats,
                }
            )
    return out
