"""Score query-based solvers exactly on a tabular benchmark (NAS-Bench-201 and its relatives).

For every cost column, budget quantile, solver and seed: run the solver with a query budget, read
the objective and report columns of its answer, and compare with the oracle (the best feasible
cell, by enumeration). Each record is written to a SQLite store as soon as it exists, so an
interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.bench._base import register_benchmark
from budgetnas.bench.nb201_summary import format_table, plot, solver_summary, summarize
from budgetnas.config import option
from budgetnas.costs._base import Constraint
from budgetnas.executors.base import ray_address_option
from budgetnas.files import check_distinct_outputs
from budgetnas.search import Problem, create_solver
from budgetnas.spaces import get_space
from budgetnas.spaces.table import Table
from budgetnas.store import Store
from budgetnas.units import Budget

__all__ = [
    "PROTOCOLS",
    "QUERY_SOLVERS",
    "Condition",
    "Nb201BenchConfig",
    "Nb201Result",
    "apply_protocol",
    "budget_limits",
    "conditions",
    "default_table",
    "format_table",
    "halves",
    "headline_queries",
    "plot",
    "record_key",
    "run_nb201",
    "score",
    "solver_summary",
    "summarize",
    "table_path",
    "validate",
    "write_json",
]

QUERY_SOLVERS = (
    "interleaved",
    "iqnas",
    "evolution",
    "local",
    "optuna",
    "tpe",
    "gp",
    "bananas",
    "random",
    "exhaustive",
)
#: where the table is found under ``$BUDGETNAS_DATA`` when no ``--table`` is given
DATA_TABLE = Path("nb201") / "nb201_cifar10.csv"
#: the named protocols (``--protocol``); see :func:`apply_protocol`
PROTOCOLS = ("robust",)
HALVES = ("all", "tune", "report")
# the settings of the benchmark that are written into its JSON beside the records
_RECORDED = (
    "table",
    "protocol",
    "half",
    "objective",
    "report",
    "costs",
    "quantiles",
    "solvers",
    "queries",
    "checkpoints",
    "seeds",
    "space",
)


@dataclass
class Nb201BenchConfig:
    """Settings of ``budgetnas bench nb201``: the problem scored, then where results go.

    Example:
        >>> cfg = Nb201BenchConfig(costs=["lat_fpga_ms"], seeds=2)
        >>> cfg.quantiles, cfg.solvers[0], cfg.json
        ([0.1, 0.25, 0.5], 'interleaved', 'runs/bench/nb201.json')
    """

    table: str | None = option(
        None,
        "CSV with arch_str and numeric columns (none: $BUDGETNAS_DATA/nb201/nb201_cifar10.csv)",
    )
    protocol: str | None = option(
        None,
        "named protocol: robust (sets --objective to every accuracy column, --cost to every "
        "lat_* column and pair, quantiles 0.05-0.75, 200 queries read at 25/50/100/200 unless "
        "--checkpoints are given; two halves, see --half)",
    )
    half: str = option("all", "conditions scored: all, tune or report (the protocol's two halves)")
    objective: list[str] = option(
        ["valid_acc"], "column(s) to maximize (one read = one query)", sep=","
    )
    report: str = option("test_acc", "column reported for the found cell")
    costs: list[str] = option(
        ["lat_pixel3_ms"],
        "cost column(s) for the budget; repeat or comma-separate; a+b is two budgets at once",
        flag="cost",
        sep=",",
    )
    quantiles: list[float] = option(
        [0.1, 0.25, 0.5],
        "budgets as quantiles: the fraction of cells within every budget of the condition",
        flag="budget-quantiles",
        sep=",",
    )
    solvers: list[str] = option(
        ["interleaved", "iqnas", "evolution", "optuna", "random"],
        f"query-based solvers scored ({', '.join(QUERY_SOLVERS)})",
        flag="solvers",
        sep=",",
    )
    queries: int = option(100, "table reads (queries) each solver may make")
    checkpoints: list[int] = option(
        [], "query counts at which the regret is also read, from the same run", sep=","
    )
    seeds: int = option(10, "runs of each solver, seeds 0 to N-1")
    space: str = option("nb201", "the space whose cells the table holds")
    jobs: int = option(
        1, "runs scored at once (processes, or Ray tasks; this one writes the store)"
    )
    executor: str = option("local", "where runs are scored with --jobs: local or ray")
    ray_address: str | None = ray_address_option()
    json: str = option("runs/bench/nb201.json", "JSON of the records")
    plot: str | None = option(None, "PNG path (none: beside --json)")
    store: str | None = option(None, "SQLite store for resuming (none: beside --json)")
    fresh: bool = option(False, "ignore stored records and run everything")
    progress: bool = option(True, "show a progress bar")


@dataclass(frozen=True)
class Condition:
    """One problem of the benchmark: maximize ``target`` with a budget on each of ``costs`` at
    quantile ``quantile``; ``half`` says which half of a protocol it belongs to."""

    target: str
    costs: tuple[str, ...]
    quantile: float
    half: str = "all"

    @property
    def cost(self) -> str:
        return "+".join(self.costs)

    @property
    def name(self) -> str:
        return f"{self.target} {self.cost} q={self.quantile:g}"


@dataclass
class Nb201Result:
    """The records of one benchmark, their summary rows and the files written."""

    records: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    json_path: Path
    plot_path: Path
    headline: int = 0

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


# ---- the conditions ------------------------------------------------------------------------------
def apply_protocol(cfg: Nb201BenchConfig, table: Table) -> Nb201BenchConfig:
    """The settings of ``cfg.protocol`` (none: ``cfg`` unchanged).

    ``robust``: every accuracy column of the table (``valid_acc``, ``test_acc``) as objective,
    every ``lat_*`` column alone and every pair of them as two budgets at once, budget quantiles
    0.05, 0.1, 0.25, 0.5 and 0.75, 200 queries with the regret read at 25, 50, 100 and 200
    (explicit ``--checkpoints`` keep ``--queries`` and themselves: a slow solver may stop at
    100), ``--seeds`` seeds (10 by default). Its conditions fall in two halves by cost set (:func:`halves`): settings are
    chosen on ``tune`` and reported on ``report``.
    """
    if cfg.protocol is None:
        return cfg
    if cfg.protocol != "robust":
        raise ValueError(f"unknown protocol {cfg.protocol!r}; protocols: {', '.join(PROTOCOLS)}")
    targets = [c for c in ("valid_acc", "test_acc") if c in table.columns]
    devices = [c for c in table.columns if c.startswith("lat_")]
    if not targets or len(devices) < 2:
        raise ValueError(
            f"the robust protocol needs valid_acc or test_acc and at least two lat_* columns; "
            f"{table.source} has {', '.join(table.columns)}"
        )
    sets = list(devices) + ["+".join(p) for p in itertools.combinations(devices, 2)]
    return dataclasses.replace(
        cfg,
        objective=targets,
        report="test_acc" if "test_acc" in table.columns else targets[0],
        costs=sets,
        quantiles=[0.05, 0.1, 0.25, 0.5, 0.75],
        queries=cfg.queries if cfg.checkpoints else 200,
        checkpoints=cfg.checkpoints or [25, 50, 100, 200],
    )


def halves(cost_sets: Sequence[str]) -> dict[str, str]:
    """Each cost set's half: the single columns alternate tune, report, tune, ... in column
    order, and so do the pairs (on NAS-Bench-201: tune = FPGA, Pixel 3, FPGA+Eyeriss,
    FPGA+Raspberry Pi 4, Eyeriss+Raspberry Pi 4; report = Eyeriss, Raspberry Pi 4,
    FPGA+Pixel 3, Eyeriss+Pixel 3, Pixel 3+Raspberry Pi 4). Every objective and quantile of a
    cost set is in its half."""
    out: dict[str, str] = {}
    for size in sorted({len(s.split("+")) for s in cost_sets}):
        group = [s for s in cost_sets if len(s.split("+")) == size]
        for k, s in enumerate(group):
            out[s] = ("tune", "report")[k % 2]
    return out


def conditions(cfg: Nb201BenchConfig) -> list[Condition]:
    """The conditions of ``cfg`` (after :func:`apply_protocol`), restricted to ``cfg.half``."""
    half_of = halves(cfg.costs) if cfg.protocol else {c: "all" for c in cfg.costs}
    out = [
        Condition(target, tuple(cost.split("+")), float(q), half_of[cost])
        for target in cfg.objective
        for cost in cfg.costs
        for q in cfg.quantiles
    ]
    return [c for c in out if cfg.half == "all" or c.half == cfg.half]


def budget_limits(table: Table, costs: Sequence[str], q: float) -> tuple[dict[str, float], float]:
    """The limit on each cost column such that a fraction ``q`` of the cells meets them all, and
    that fraction. One column: its ``q``-quantile. Several: the same quantile ``p >= q`` of each
    column, the smallest for which the cells within every limit are at least a fraction ``q``
    (bisection)."""
    cols = [table.cost_column(c) for c in costs]

    def limits(p: float) -> list[float]:
        return [float(np.quantile(col, p)) for col in cols]

    def share(p: float) -> float:
        ok = np.ones(len(cols[0]), dtype=bool)
        for col, lim in zip(cols, limits(p), strict=True):
            ok &= col <= lim
        return float(ok.mean())

    lo, hi = q, 1.0
    if len(cols) > 1 and share(lo) < q:
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if share(mid) < q else (lo, mid)
    else:
        hi = q
    return dict(zip(costs, limits(hi), strict=True)), share(hi)


def validate(cfg: Nb201BenchConfig, table: Table) -> None:
    for name in [*cfg.objective, cfg.report]:
        table.column(name)  # KeyError with the list of columns and a hint; every cell finite
    for cost in cfg.costs:
        names = cost.split("+")
        if len(set(names)) != len(names):
            raise ValueError(f"cost set {cost!r} names a column twice")
        for name in names:
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
    from budgetnas.executors.base import check_executor_settings

    check_executor_settings(cfg)
    for k in cfg.checkpoints:
        if not 1 <= k <= cfg.queries:
            raise ValueError(f"checkpoint {k} is not between 1 and --queries ({cfg.queries})")
    if cfg.half not in HALVES:
        raise ValueError(f"--half {cfg.half!r}: use one of {', '.join(HALVES)}")
    if cfg.half != "all" and cfg.protocol is None:
        raise ValueError("--half tune|report needs a --protocol (the halves are its)")


# ---- one run -------------------------------------------------------------------------------------
class _Scorer:
    """The table, its cost models and the oracles of one process, built once and reused."""

    def __init__(self, table: Table, cfg: Nb201BenchConfig):
        self.table, self.cfg = table, cfg
        self._costs: dict[str, Any] = {}
        self._problems: dict[Condition, tuple[Problem, dict[str, float], float]] = {}
        self._oracles: dict[Condition, Any] = {}

    def cost(self, column: str):
        if column not in self._costs:
            self._costs[column] = self.table.cost(column)
        return self._costs[column]

    def problem(self, cond: Condition) -> tuple[Problem, dict[str, float], float]:
        """The condition's problem, its budget limits and the share of cells within them (built
        once per condition: a pair's limits take a bisection over the table)."""
        if cond not in self._problems:
            limits, share = budget_limits(self.table, cond.costs, cond.quantile)
            constraints = [
                Constraint(Budget(c, lim, f"{c}<={lim:g}"), self.cost(c))
                for c, lim in limits.items()
            ]
            query = self.table.query(cond.target)
            self._problems[cond] = (
                Problem(self.table.space, constraints, query=query),
                limits,
                share,
            )
        return self._problems[cond]

    def record(self, cond: Condition, solver_name: str, seed: int) -> dict[str, Any]:
        """One solver run, scored against the oracle (the best feasible cell by enumeration)."""
        cfg, table = self.cfg, self.table
        problem, limits, share = self.problem(cond)
        if cond not in self._oracles:
            self._oracles[cond] = create_solver("exhaustive").solve(problem)
        oracle = self._oracles[cond]
        best = table.value(cond.target, oracle.arch)
        kwargs = {} if solver_name == "exhaustive" else {"n_queries": cfg.queries, "seed": seed}
        solver = create_solver(solver_name, **kwargs)
        start = time.perf_counter()
        result = solver.solve(problem)
        wall = time.perf_counter() - start
        value = table.value(cond.target, result.arch)
        costs = {c: table.value(c, result.arch) for c in cond.costs}
        record = {
            "solver": solver_name,
            "target": cond.target,
            "cost": cond.cost,
            "budgets": limits,
            "feasible_share": share,
            "quantile": cond.quantile,
            "half": cond.half,
            "queries": result.queries,
            "seed": seed,
            "arch": str(result.arch),
            "objective": value,
            "report": table.value(cfg.report, result.arch),
            "oracle_objective": best,
            "oracle_report": table.value(cfg.report, oracle.arch),
            "regret": best - value,
            "feasible": all(c.budget.feasible(costs[c.budget.metric]) for c in problem.constraints),
            "cost_values": costs,
            "wall_s": wall,
        }
        if cfg.checkpoints:
            record.update(_checkpoints(problem, result, cfg.checkpoints, best, wall))
        return record


def _checkpoints(problem: Problem, result, checkpoints, best: float, wall: float) -> dict:
    """The answer after the first k queries of the run for each checkpoint k: its regret, its
    feasibility (checked again) and the seconds the run had taken then. A run that stopped
    before k queries (every feasible cell seen) keeps its final answer."""
    history = result.history
    regret_at, wall_at, feasible_at = {}, {}, True
    for k in checkpoints:
        upto = history[:k]
        if not upto:  # a solver without a query history (exhaustive): its answer
            regret_at[str(k)], wall_at[str(k)] = best - result.objective, wall
            continue
        top = max(upto, key=lambda h: h["value"])
        arch = problem.space.from_string(top["arch"])
        feasible_at &= problem.feasible(arch)
        regret_at[str(k)] = best - top["value"]
        wall_at[str(k)] = upto[-1]["wall_s"]
    return {"regret_at": regret_at, "wall_at": wall_at, "feasible_at": feasible_at}


def record_key(cfg: Nb201BenchConfig, digest: str, cond: Condition, solver: str, seed: int) -> str:
    """The store key of one record: every setting that changes it (the table's checksum, space,
    objective and report columns, cost set, budget quantile, solver, queries, checkpoints,
    seed)."""
    return "/".join(
        [
            "v3",
            digest,
            cfg.space,
            cond.target,
            cfg.report,
            cond.cost,
            repr(float(cond.quantile)),
            solver,
            str(cfg.queries),
            ",".join(map(str, cfg.checkpoints)),
            str(seed),
        ]
    )


_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _one_blas_thread():
    """One BLAS thread in the processes started meanwhile (they read it when numpy loads): N
    processes each spinning several BLAS threads on the same cores run several times slower."""
    saved = {k: os.environ.get(k) for k in _BLAS_THREADS}
    os.environ.update({k: "1" for k in _BLAS_THREADS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class ScoreTask:
    """One run scored on an executor's worker: the worker reads the table once (the file must
    be at ``table_path`` there) and keeps its scorer for its later tasks; one torch thread (the
    workers share the cores)."""

    table_path: str
    cfg: Nb201BenchConfig

    def __call__(self, cond: Condition, solver: str, seed: int) -> dict[str, Any]:
        from budgetnas.executors.base import built_once

        def scorer() -> _Scorer:
            import torch

            torch.set_num_threads(1)
            return _Scorer(Table.from_csv(self.table_path, get_space(self.cfg.space)), self.cfg)

        key = ("nb201", json.dumps([self.table_path, dataclasses.asdict(self.cfg)], sort_keys=True))
        return built_once(key, scorer).record(cond, solver, seed)


def score(
    cfg: Nb201BenchConfig,
    store: Store | None = None,
    progress: bool = True,
    table: Table | None = None,
) -> list[dict[str, Any]]:
    """Score every (condition, solver, seed); returns the records (resumed from ``store`` where
    present). ``cfg.table`` must name the table (``table``: the one already read from it);
    ``cfg.protocol`` is applied here."""
    from tqdm.auto import tqdm

    path = Path(cfg.table)
    table = table or Table.from_csv(path, get_space(cfg.space))
    cfg = apply_protocol(cfg, table)
    validate(cfg, table)
    digest = _file_digest(path)
    jobs = [
        (cond, solver, seed)
        for cond in conditions(cfg)
        for solver in cfg.solvers
        for seed in range(cfg.seeds)
    ]
    keys = [record_key(cfg, digest, *job) for job in jobs]
    found = {k: store.get("bench-nb201", k) for k in keys} if store is not None else {}
    todo = [(k, job) for k, job in zip(keys, jobs, strict=True) if found.get(k) is None]
    bar = tqdm(total=len(jobs), desc="bench nb201", unit="run", disable=not progress)
    bar.update(len(jobs) - len(todo))

    def keep(key: str, job: tuple, record: dict[str, Any]) -> None:
        found[key] = record
        if store is not None:
            store.put("bench-nb201", key, record)
        bar.set_postfix_str(f"{job[1]} {job[0].name}")
        bar.update()

    from budgetnas.executors.base import uses_executor

    if uses_executor(cfg) and todo:
        from budgetnas.executors.base import executor_from

        task = ScoreTask(str(path.resolve()), cfg)
        with (
            _one_blas_thread(),  # the workers started meanwhile read it
            executor_from(cfg) as executor,
        ):
            for i, record in executor.map(task, [job for _, job in todo]):
                keep(*todo[i], record)
    else:
        scorer = _Scorer(table, cfg)
        for key, job in todo:
            keep(key, job, scorer.record(*job))
    bar.close()
    return [found[k] for k in keys]


def summary(result: Nb201Result) -> str:
    """The tables of mean regrets and the files written."""
    return (
        f"{format_table(result.rows, result.headline)}\n\n{len(result.records)} records, "
        f"{result.infeasible} infeasible; wrote {result.json_path} and {result.plot_path}"
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
    table = Table.from_csv(cfg.table, get_space(cfg.space))
    cfg = apply_protocol(cfg, table)
    with Store(store_path) as store:
        if cfg.fresh:
            store.delete("bench-nb201")
        records = score(cfg, store=store, progress=cfg.progress, table=table)
    rows = summarize(records)
    headline = headline_queries(cfg)
    write_json(records, cfg, out, rows)
    plot(rows, plot_path, cfg.objective, headline)
    return Nb201Result(records, rows, out, plot_path, headline)


def headline_queries(cfg: Nb201BenchConfig) -> int:
    """The query count the headline numbers are read at: 100 when it is a checkpoint, else
    ``--queries``."""
    return 100 if 100 in cfg.checkpoints else cfg.queries


def write_json(
    records: Sequence[dict[str, Any]],
    cfg: Nb201BenchConfig,
    path: str | Path,
    rows: Sequence[dict[str, Any]] | None = None,
) -> None:
    """The benchmark's settings (the problem scored, not where files go), the per-solver
    summary of each half (from ``rows``, the records' :func:`summarize` when given) and the
    records."""
    settings = {name: getattr(cfg, name) for name in _RECORDED}
    rows = summarize(records) if rows is None else rows
    k = headline_queries(cfg)
    summaries = {half: solver_summary(rows, k, half) for half in sorted({r["half"] for r in rows})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(
            {
                "config": settings,
                "headline_queries": k,
                "summary": summaries,
                "records": list(records),
            },
            fh,
            indent=1,
        )
