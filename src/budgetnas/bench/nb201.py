"""Score query-based solvers exactly on a tabular benchmark (NAS-Bench-201 and its relatives).

For every cost column, budget quantile, solver and seed: run the solver with a query budget, read
the objective and report columns of its answer, and compare with the oracle (the best feasible
cell, by enumeration). Each record is written to a SQLite store as soon as it exists, so an
interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.bench._base import register_benchmark
from budgetnas.config import option
from budgetnas.costs._base import Constraint
from budgetnas.files import check_distinct_outputs
from budgetnas.search import Problem, create_solver
from budgetnas.spaces import get_space
from budgetnas.spaces.table import Table
from budgetnas.store import Store
from budgetnas.units import Budget

__all__ = [
    "QUERY_SOLVERS",
    "Nb201BenchConfig",
    "Nb201Result",
    "default_table",
    "format_table",
    "plot",
    "record_key",
    "run_nb201",
    "score",
    "summarize",
    "table_path",
    "validate",
    "write_json",
]

QUERY_SOLVERS = ("iqnas", "evolution", "local", "optuna", "random", "exhaustive")
#: where the table is found under ``$BUDGETNAS_DATA`` when no ``--table`` is given
DATA_TABLE = Path("nb201") / "nb201_cifar10.csv"
# the settings of the benchmark that are written into its JSON beside the records
_RECORDED = (
    "table",
    "objective",
    "report",
    "costs",
    "quantiles",
    "solvers",
    "queries",
    "seeds",
    "space",
)


@dataclass
class Nb201BenchConfig:
    """Settings of ``budgetnas bench nb201``: the problem scored, then where results go.

    Example:
        >>> cfg = Nb201BenchConfig(costs=["lat_fpga_ms"], seeds=2)
        >>> cfg.quantiles, cfg.solvers[0], cfg.json
        ([0.1, 0.25, 0.5], 'iqnas', 'runs/bench/nb201.json')
    """

    table: str | None = option(
        None,
        "CSV with arch_str and numeric columns (none: $BUDGETNAS_DATA/nb201/nb201_cifar10.csv)",
    )
    objective: str = option("valid_acc", "column to maximize (one read = one query)")
    report: str = option("test_acc", "column reported for the found cell")
    costs: list[str] = option(
        ["lat_pixel3_ms"],
        "cost column(s) for the budget; repeat or comma-separate",
        flag="cost",
        sep=",",
    )
    quantiles: list[float] = option(
        [0.1, 0.25, 0.5],
        "budgets as quantiles of each cost column",
        flag="budget-quantiles",
        sep=",",
    )
    solvers: list[str] = option(
        ["iqnas", "evolution", "optuna", "random"],
        f"query-based solvers scored ({', '.join(QUERY_SOLVERS)})",
        flag="solvers",
        sep=",",
    )
    queries: int = option(100, "table reads (queries) each solver may make")
    seeds: int = option(10, "runs of each solver, seeds 0 to N-1")
    space: str = option("nb201", "the space whose cells the table holds")
    json: str = option("runs/bench/nb201.json", "JSON of the records")
    plot: str | None = option(None, "PNG path (none: beside --json)")
    store: str | None = option(None, "SQLite store for resuming (none: beside --json)")
    fresh: bool = option(False, "ignore stored records and run everything")
    progress: bool = option(True, "show a progress bar")


@dataclass
class Nb201Result:
    """The records of one benchmark, their summary rows and the files written."""

    records: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    json_path: Path
    plot_path: Path

    @property
    def infeasible(self) -> int:
        return sum(not r["feasible"] for r in self.records)


def default_table() -> str | None:
    """``$BUDGETNAS_DATA/nb201/nb201_cifar10.csv`` when that file exists."""
    root = os.environ.get("BUDGETNAS_DATA")
    if root and (Path(root) / DATA_TABLE).is_file():
        return str(Path(root) / DATA_TABLE)
    return None


def table_path(table: str | None) -> str:
    """``table``, or the default table; FileNotFoundError when there is neither."""
    table = table or default_table()
    if not table:
        raise FileNotFoundError(
            "no table given: pass --table PATH or set BUDGETNAS_DATA to the folder holding "
            "nb201/nb201_cifar10.csv"
        )
    return table


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def validate(cfg: Nb201BenchConfig, table: Table) -> None:
    for name in [cfg.objective, cfg.report]:
        table.column(name)  # KeyError with the list of columns and a hint; every cell finite
    for name in cfg.costs:
        table.cost_column(name)  # every cell finite and positive
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


def _record(cfg, table: Table, objective, job: tuple, oracles: dict) -> dict[str, Any]:
    """One solver run ``job = (cost, q, solver, seed)`` under the budget at quantile ``q`` of
    ``cost``, scored against the oracle (the best feasible cell; ``oracles`` caches it per
    budget). ``objective`` is the table's query of the objective column."""
    cost, q, solver_name, seed = job
    limit = float(np.quantile(table.column(cost), q))
    budget = Budget(cost, limit, f"{cost}<={limit:g}")
    problem = Problem(table.space, [Constraint(budget, table.cost(cost))], query=objective)
    if (cost, q) not in oracles:
        oracles[(cost, q)] = create_solver("exhaustive").solve(problem)
    oracle = oracles[(cost, q)]
    kwargs = {} if solver_name == "exhaustive" else {"n_queries": cfg.queries, "seed": seed}
    solver = create_solver(solver_name, **kwargs)
    start = time.perf_counter()
    result = solver.solve(problem)
    wall = time.perf_counter() - start
    value = table.value(cfg.objective, result.arch)
    return {
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


def record_key(cfg: Nb201BenchConfig, digest: str, job: tuple) -> str:
    """The store key of one record: every setting that changes it (the table's checksum, space,
    objective and report columns, cost column, budget quantile, solver, queries, seed)."""
    cost, q, solver_name, seed = job
    return "/".join(
        [
            "v2",
            digest,
            cfg.space,
            cfg.objective,
            cfg.report,
            cost,
            repr(float(q)),
            solver_name,
            str(cfg.queries),
            str(seed),
        ]
    )


def score(
    cfg: Nb201BenchConfig,
    store: Store | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Score every (cost, quantile, solver, seed); returns the records (resumed from ``store``
    where present). ``cfg.table`` must name the table."""
    from tqdm.auto import tqdm

    path = Path(cfg.table)
    table = Table.from_csv(path, get_space(cfg.space))
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
        key = record_key(cfg, digest, (cost, q, solver_name, seed))
        record = store.get("bench-nb201", key) if store is not None else None
        if record is None:
            record = _record(cfg, table, objective, (cost, q, solver_name, seed), oracles)
            if store is not None:
                store.put("bench-nb201", key, record)
            bar.set_postfix_str(f"{solver_name} {cost}@{q:g}")
        records.append(record)
        bar.update()
    bar.close()
    return records


def summary(result: Nb201Result) -> str:
    """The table of mean regrets and the files written."""
    return (
        f"{format_table(result.rows)}\n\n{len(result.records)} records, {result.infeasible} "
        f"infeasible; wrote {result.json_path} and {result.plot_path}"
    )


@register_benchmark(
    "nb201",
    "score search methods exactly on a tabular benchmark",
    Nb201BenchConfig,
    summary=summary,
    exit_code=lambda result: 1 if result.infeasible else 0,
)
def run_nb201(cfg: Nb201BenchConfig) -> Nb201Result:
    """Score the solvers (resuming from the store beside the JSON), write the JSON and the plot."""
    cfg = dataclasses.replace(cfg, table=table_path(cfg.table))
    out = Path(cfg.json)
    store_path = Path(cfg.store) if cfg.store else out.with_suffix(".sqlite")
    plot_path = Path(cfg.plot) if cfg.plot else out.with_suffix(".png")
    check_distinct_outputs(json=out, plot=plot_path, store=store_path, table=cfg.table)
    with Store(store_path) as store:
        if cfg.fresh:
            store.delete("bench-nb201")
        records = score(cfg, store=store, progress=cfg.progress)
    rows = summarize(records)
    write_json(records, cfg, out)
    plot(rows, plot_path, cfg.objective)
    return Nb201Result(records, rows, out, plot_path)


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


def write_json(records: Sequence[dict[str, Any]], cfg: Nb201BenchConfig, path: str | Path) -> None:
    """The benchmark's settings (the problem scored, not where files go) and its records."""
    settings = {name: getattr(cfg, name) for name in _RECORDED}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"config": settings, "records": list(records)}, fh, indent=1)
