"""Search under hard budgets, then the closed loop on the device (docs/methods/search.md).

:func:`search` resolves budget strings (``"latency_ms<=2.0"``) to constraints with
:mod:`budgetnas.costs.registry` and runs one solver on a predictor form.

:func:`closed_loop` then checks the found architecture on the device: for every budget that has a
*measurer* (a function ``arch -> measured cost``; by default the latency of the extracted network on
the table's backend, see :func:`latency_measurer`), the measured cost is compared with the budget.
A measurer may return None for an architecture it has no measurement of (a remote device that
has not measured it yet): that budget's row stays predicted.
When a measurement breaks its budget, that budget's limit for the solver is tightened by the
observed ratio, ``limit <- limit * predicted / measured`` (strictly below the found architecture's
predicted cost, so it cannot come back), and the solver runs again, ``max_rounds`` rounds at most.
The result records the predicted and measured cost of every budget. If the budgets still fail after
the last round (or tightening makes the problem infeasible), :class:`BudgetNotMetError` is raised
with the whole record attached; with ``raise_on_failure=False`` the result says ``ok=False`` and
why. Never an over-budget network without an explicit failure message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from budgetnas.arch import Architecture
from budgetnas.costs._base import Constraint
from budgetnas.forms import QuadraticForm
from budgetnas.results import BudgetRow, budget_rows
from budgetnas.units import Budget, parse_budgets

Measurer = Callable[[Architecture], float]
MEASURED_METRICS = ("latency_ms", "energy_mj")


class BudgetNotMetError(ValueError):
    """The closed loop could not find a network whose measured cost meets every budget."""

    def __init__(self, message: str, result: LoopResult):
        super().__init__(message)
        self.result = result


def resolve_budgets(budgets: Sequence[str | Budget]) -> list[Budget]:
    texts = [b for b in budgets if isinstance(b, str)]
    parsed = parse_budgets(texts) if texts else []
    out = [b for b in budgets if isinstance(b, Budget)] + parsed
    if len({b.metric for b in out}) != len(out):
        raise ValueError("one budget per metric")
    if not out:
        raise ValueError("give at least one budget, e.g. 'params_m<=0.5'")
    return out


def build_constraints(space, budgets: Sequence[str | Budget], **ctx) -> list[Constraint]:
    """One :class:`Constraint` per budget, cost models from :func:`costs.registry.constraint`."""
    from budgetnas.costs.registry import constraint

    return [constraint(b, space, **ctx) for b in resolve_budgets(budgets)]


def search(
    space,
    objective: QuadraticForm,
    budgets: Sequence[str | Budget] | None = None,
    solver: str = "milp",
    solver_kwargs: dict | None = None,
    constraints: Sequence[Constraint] | None = None,
    **ctx,
):
    """Maximize ``objective`` under every budget with solver ``solver``; a verified SearchResult.

    Raises :class:`~budgetnas.search.InfeasibleBudgetError` when no architecture fits.
    """
    from budgetnas.search import Problem, create_solver

    if constraints is None:
        constraints = build_constraints(space, budgets or [], **ctx)
    problem = Problem(space, constraints, objective=objective)
    return create_solver(solver, **(solver_kwargs or {})).solve(problem)


@dataclass
class LoopResult:
    """The outcome of :func:`closed_loop`."""

    ok: bool
    message: str
    result: Any  # the last SearchResult (None when the last round found nothing)
    budgets: list[BudgetRow]  # the last round's rows
    rounds: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def arch(self) -> Architecture | None:
        return None if self.result is None else self.result.arch

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "arch": None if self.result is None else str(self.result.arch),
            "search": None if self.result is None else self.result.to_dict(),
            "budgets": [row.to_json() for row in self.budgets],
            "rounds": self.rounds,
            "wall_s": self.wall_s,
        }


def closed_loop(
    space,
    objective: QuadraticForm,
    budgets: Sequence[str | Budget] | None = None,
    solver: str = "milp",
    measurers: dict[str, Measurer] | None = None,
    max_rounds: int = 3,
    raise_on_failure: bool = True,
    solver_kwargs: dict | None = None,
    constraints: Sequence[Constraint] | None = None,
    chooser: Callable[[Sequence[Constraint]], Any] | None = None,
    where: dict[str, str] | None = None,
    **ctx,
) -> LoopResult:
    """Search, measure every budget that has a measurer, tighten and search again (module doc).

    ``chooser`` replaces the solver call of each round: a function from the round's constraints
    to a verified ``SearchResult`` (for example :func:`budgetnas.pipeline.rerank.reranker`).
    ``where`` names, per metric, the device a measurer measures on (it goes into the rows)."""
    from budgetnas.search import InfeasibleBudgetError

    if max_rounds < 1:
        raise ValueError("max_rounds must be >= 1")
    start = time.perf_counter()
    if constraints is None:
        constraints = build_constraints(space, budgets or [], **ctx)
    constraints = list(constraints)
    measurers = dict(measurers or {})
    unknown = set(measurers) - {c.budget.metric for c in constraints}
    if unknown:
        raise ValueError(f"measurers for metrics without a budget: {sorted(unknown)}")
    limits = {c.budget.metric: c.budget.limit for c in constraints}

    def solve(current):
        if chooser is not None:
            return chooser(current)
        return search(
            space, objective, solver=solver, solver_kwargs=solver_kwargs, constraints=current
        )

    rounds: list[dict] = []
    result = None
    rows: list[BudgetRow] = []
    message = ""
    for r in range(max_rounds):
        try:
            result = solve(_tightened(constraints, limits))
        except InfeasibleBudgetError as exc:
            if r == 0:
                raise
            message = (
                f"round {r + 1}: after tightening to {_fmt(limits)} no architecture fits ({exc}); "
                "the measured costs break the budget: no network returned"
            )
            result = None
            break
        measured = {}
        for m, f in measurers.items():
            value = f(result.arch)  # None: not measured (a device out of reach), predicted
            if value is not None:
                measured[m] = float(value)
        rows = budget_rows(constraints, result.arch, measured, dict(limits), where)
        rounds.append(_round_record(r, result, limits, rows))
        broken = [row for row in rows if not row.ok]
        if not broken:
            msg = "all budgets met" + (
                f" after {r + 1} rounds (tightened: {_fmt(limits)})" if r else ""
            )
            return LoopResult(True, msg, result, rows, rounds, time.perf_counter() - start)
        message = f"budget not met after {r + 1} round(s): {_tighten(limits, broken)}"
    loop = LoopResult(False, message, result, rows, rounds, time.perf_counter() - start)
    if raise_on_failure:
        raise BudgetNotMetError(message, loop)
    return loop


def _tightened(constraints: Sequence[Constraint], limits: dict[str, float]) -> list[Constraint]:
    """The constraints with the solver's current limits."""
    return [
        Constraint(Budget(c.budget.metric, limits[c.budget.metric], c.budget.text), c.cost)
        for c in constraints
    ]


def _round_record(r: int, result, limits: dict[str, float], rows: list[BudgetRow]) -> dict:
    return {
        "round": r + 1,
        "arch": str(result.arch),
        "solver_limits": dict(limits),
        "predicted_objective": result.predicted,
        "budgets": [row.to_json() for row in rows],
        "solver_wall_s": result.wall_s,
        **({"rerank": result.history[-1]} if _reranked(result) else {}),
    }


def _tighten(limits: dict[str, float], broken: list[BudgetRow]) -> str:
    """Scale each broken budget's solver limit by predicted / measured; the failure message."""
    for row in broken:
        if row.measured is None or row.predicted is None or row.predicted <= 0:
            continue
        limits[row.metric] = limits[row.metric] / (row.measured / row.predicted)
    return "; ".join(
        f"{row.metric} measured {row.measured:.4g} > limit {row.limit:.4g} "
        f"(predicted {row.predicted:.4g})"
        for row in broken
        if row.measured is not None
    )


def _reranked(result) -> bool:
    return bool(result.history) and "rerank" in result.history[-1]


def _fmt(limits: dict[str, float]) -> str:
    return ", ".join(f"{m}<={v:.4g}" for m, v in limits.items())


def input_shape(space, fingerprint: dict) -> tuple[int, int, int, int]:
    """The input a latency of ``fingerprint`` (its batch) refers to, for networks of ``space``."""
    cfg = space.config
    return (int(fingerprint.get("batch", 1)), cfg.in_channels, cfg.image_size, cfg.image_size)


def measure_networks(
    nets: dict,
    shape: tuple,
    fingerprint: dict,
    repeats: int = 30,
    warmup: int = 5,
    seed: int = 0,
    stat: str = "median",
) -> dict[str, float]:
    """Latency (ms) of every network of ``nets``, timed in one interleaved measurement on the
    backend, threads and clock of a table's ``fingerprint``: the statistic ``stat`` (``median``
    or ``min``) of the repeats, as the table was measured, so that a measurement and a
    prediction compare like with like."""
    from budgetnas.costs.latency import make_runner, measure
    from budgetnas.costs.table import STATS

    if stat not in STATS:
        raise ValueError(f"unknown statistic {stat!r}; choose one of {', '.join(STATS)}")
    threads = int(fingerprint.get("threads", 1))
    backend = fingerprint.get("backend", "torch-cpu")
    runners = {
        k: make_runner(n, shape, backend=backend, threads=threads, seed=seed)
        for k, n in nets.items()
    }
    clock = fingerprint.get("clock", "auto")
    got = measure(runners, repeats=repeats, warmup=warmup, threads=threads, clock=clock)
    return {k: float(getattr(m, stat)) for k, m in got.items()}


def latency_measurer(
    supernet,
    fingerprint: dict,
    repeats: int = 30,
    warmup: int = 5,
    seed: int = 0,
    stat: str = "median",
) -> Measurer:
    """Latency (ms) of the extracted network, measured as :func:`measure_networks` does."""
    from budgetnas.costs.table import STATS

    if stat not in STATS:
        raise ValueError(f"unknown statistic {stat!r}; choose one of {', '.join(STATS)}")

    def measure_arch(arch: Architecture) -> float:
        from budgetnas.supernet import extract

        net = extract(supernet, arch).eval()
        shape = input_shape(supernet.space, fingerprint)
        return measure_networks({"net": net}, shape, fingerprint, repeats, warmup, seed, stat)[
            "net"
        ]

    return measure_arch


__all__ = [
    "BudgetNotMetError",
    "LoopResult",
    "build_constraints",
    "closed_loop",
    "input_shape",
    "latency_measurer",
    "measure_networks",
    "resolve_budgets",
    "search",
]
