"""Score query-based solvers exactly on a tabular benchmark (NAS-Bench-201 and its relatives).

For every cost column, budget quantile, solver and seed: run the solver with a query budget, read
the objective and report columns of its answer, and compare with the oracle (the best feasible
cell, by enumeration). Each record is written to a SQLite store as soon as it exists, so an
interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.costs._base import Constraint
from budgetnas.search import Problem, create_solver
from budgetnas.spaces import get_space
from budgetnas.spaces.table import Table
from budgetnas.store import Store
from budgetnas.units import Budget

QUERY_SOLVERS = ("iqnas", "evolution", "optuna", "random", "exhaustive")


@dataclass
class NB201BenchConfig:
    table: str
    objective: str = "valid_acc"
    report: str = "test_acc"
    costs: list[str] = field(default_factory=lambda: ["lat_pixel3_ms"])
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5])
    solvers: list[str] = field(default_factory=lambda: ["iqnas", "evolution", "optuna", "random"])
    queries: int = 100
    seeds: int = 10
    space: str = "nb201"


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def validate(cfg: NB201BenchConfig, table: Table) -> None:
    for name in [cfg.objective, cfg.report, *cfg.costs]:
        table.column(name)  # KeyError with the list of columns and a hint
    if not table.complete:
        raise ValueError(
            f"the table has {len(table.archs)} of the {table.space.size} cells of the space; "
            "the oracle needs every cell"
        )
    for q in cfg.quantiles:
        if not 0 < q <= 1:
            raise ValueError(f"budget quantile {q} is not in (0, 1]")
    for s in cfg.solvers:
        if s not in QUERY_SOLVERS:
            raise ValueError(
                f"solver {s!r} cannot be scored here: the tabular benchmark scores query-based "
                f"solvers ({', '.join(QUERY_SOLVERS)})"
            )
    if cfg.queries < 1 or cfg.seeds < 1:
        raise ValueError("--queries and --seeds must be at least 1")


def run_nb201(
    cfg: NB201BenchConfig,
    store: Store | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run the benchmark; returns the records (resumed from ``store`` where present)."""
    from tqdm.auto import tqdm

    path = Path(cfg.table)
    space = get_space(cfg.space)
    table = Table.from_csv(path, space)
    validate(cfg, table)
    digest = _file_digest(path)
    objective = table.query(cfg.objective)
    jobs = [
        (cost, q, solver, seed)
        for cost in cfg.costs
        for q in cfg.quantiles
        for solver in cfg.solvers
        for seed in range(cfg.seeds)
    ]
    records: list[dict[str, Any]] = []
    oracles: dict[tuple[str, float], Any] = {}
    bar = tqdm(total=len(jobs), desc="bench nb201", unit="run", disable=not progress)
    for cost, q, solver_name, seed in jobs:
        key = f"{digest}/{cfg.objective}/{cost}/{q:g}/{solver_name}/{cfg.queries}/{seed}"
        if store is not None:
            cached = store.get("bench-nb201", key)
            if cached is not None:
                records.append(cached)
                bar.update()
                continue
        limit = float(np.quantile(table.column(cost), q))
        budget = Budget(cost, limit, f"{cost}<={limit:g}")
        problem = Problem(space, [Constraint(budget, table.cost(cost))], query=objective)
        if (cost, q) not in oracles:
            oracles[(cost, q)] = create_solver("exhaustive").solve(problem)
        oracle = oracles[(cost, q)]
        kwargs = {} if solver_name == "exhaustive" else {"n_queries": cfg.queries, "seed": seed}
        solver = create_solver(solver_name, **kwargs)
        start = time.perf_counter()
        result = solver.solve(problem)
        wall = time.perf_counter() - start
        value = table.value(cfg.objective, result.arch)
        record = {
            "solver": solver_name,
            "cost": cost,
            "budget": limit,
            "quantile": q,
            "queries": result.queries,
            "seed": seed,
            "arch": str(result.arch),
            "objective": value,
            "report": table.value(cfg.report, result.arch),
            "oracle_objective": table.value(cfg.objective, oracle.arch),
            "oracle_report": table.value(cfg.report, oracle.arch),
            "regret": table.value(cfg.objective, oracle.arch) - value,
            "feasible": budget.feasible(table.value(cost, result.arch)),
            "cost_value": table.value(cost, result.arch),
            "wall_s": wall,
        }
        if store is not None:
            store.put("bench-nb201", key, record)
        records.append(record)
        bar.set_postfix_str(f"{solver_name} {cost}@{q:g}")
        bar.update()
    bar.close()
    return records


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean regret, feasibility and wall time per (solver, cost, quantile)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["solver"], r["cost"], r["quantile"])].append(r)
    rows = []
    for (solver, cost, q), rs in sorted(
        groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
    ):
        regrets = np.array([r["regret"] for r in rs])
        rows.append(
            {
                "solver": solver,
                "cost": cost,
                "quantile": q,
                "budget": rs[0]["budget"],
                "runs": len(rs),
                "mean_regret": float(regrets.mean()),
                "std_regret": float(regrets.std()),
                "feasible": float(np.mean([r["feasible"] for r in rs])),
                "mean_wall_s": float(np.mean([r["wall_s"] for r in rs])),
                "mean_report": float(np.mean([r["report"] for r in rs])),
            }
        )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'solver':<11} {'cost':<16} {'q':>5} {'budget':>9} {'runs':>4} {'regret':>8} {'±':>6} {'feasible':>8} {'wall_s':>8} {'report':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['solver']:<11} {r['cost']:<16} {r['quantile']:>5g} {r['budget']:>9.4g} {r['runs']:>4d} "
            f"{r['mean_regret']:>8.3f} {r['std_regret']:>6.3f} {100 * r['feasible']:>7.0f}% "
            f"{r['mean_wall_s']:>8.3f} {r['mean_report']:>7.2f}"
        )
    by_solver: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_solver[r["solver"]].append(r["mean_regret"])
    lines.append("-" * len(head))
    lines.append(
        "overall mean regret: "
        + ", ".join(
            f"{s}={np.mean(v):.3f}"
            for s, v in sorted(by_solver.items(), key=lambda kv: np.mean(kv[1]))
        )
    )
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: str | Path, objective: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    costs = sorted({r["cost"] for r in rows})
    solvers = sorted({r["solver"] for r in rows})
    fig, axes = plt.subplots(1, len(costs), figsize=(4.2 * len(costs), 3.6), squeeze=False)
    for ax, cost in zip(axes[0], costs, strict=True):
        for solver in solvers:
            rs = sorted(
                (r for r in rows if r["cost"] == cost and r["solver"] == solver),
                key=lambda r: r["budget"],
            )
            if rs:
                ax.errorbar(
                    [r["budget"] for r in rs],
                    [r["mean_regret"] for r in rs],
                    yerr=[r["std_regret"] / np.sqrt(r["runs"]) for r in rs],
                    marker="o",
                    capsize=3,
                    label=solver,
                )
        ax.set_title(cost)
        ax.set_xlabel(f"budget ({cost.rpartition('_')[2]})")
        ax.set_ylabel(f"mean regret ({objective}, points) ± s.e.")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_json(records: Sequence[dict[str, Any]], cfg: NB201BenchConfig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"config": asdict(cfg), "records": list(records)}, fh, indent=1)
