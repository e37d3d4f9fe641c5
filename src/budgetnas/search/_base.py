"""What every solver shares: the problem, the result record, the one-shot and ask/tell bases.

The problem (docs/methods/search.md): maximize an objective over the architectures of a space
subject to every budget, ``cost_k(arch) <= B_k``. The objective is either a quadratic form (an
accuracy predictor; what ``milp`` and ``frank-wolfe`` optimize) or a function that *queries* the
true objective (a training run, a table read; what the query-based solvers call). Budgets are hard:
a solver returns an architecture whose exact cost is within every budget, or raises.

The errors live in :mod:`budgetnas.search.errors`, the integer program and the achievability
check in :mod:`budgetnas.search.program`.

Example:
    >>> from budgetnas.search import create_solver
    >>> from budgetnas.testing.problems import random_problem
    >>> result = create_solver("exhaustive").solve(random_problem(0))
    >>> result.feasible, [row.ok for row in result.budgets]
    (True, [True, True])
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.costs._base import Constraint
from budgetnas.forms import QuadraticForm
from budgetnas.results import BudgetRow, budget_rows
from budgetnas.search.errors import SearchExhausted, SolverFailedError
from budgetnas.search.program import check_achievable
from budgetnas.spaces._base import SearchSpace

__all__ = ["Problem", "QuerySolver", "SearchResult", "Solver"]


@dataclass
class Problem:
    """Maximize ``objective`` (a form) or ``query`` (a measured value) under ``constraints``."""

    space: SearchSpace
    constraints: Sequence[Constraint]
    objective: QuadraticForm | None = None
    query: Callable[[Architecture], float] | None = None
    #: set by :func:`~budgetnas.search.program.check_achievable` once the budgets are known to be
    #: achievable (a problem built on the same constraints may copy it to skip the check)
    achievable_key: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.constraints = list(self.constraints)
        if self.objective is None and self.query is None:
            raise ValueError("a problem needs an objective form, a query function, or both")
        if self.objective is not None and self.objective.n != self.space.n_binaries:
            raise ValueError(
                f"objective has {self.objective.n} coefficients; the space has "
                f"{self.space.n_binaries} binaries"
            )
        metrics = [c.budget.metric for c in self.constraints]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"one budget per metric, got {metrics}")

    def score(self, arch: Architecture) -> float:
        """The value a solver maximizes: the query where given, else the objective form."""
        if self.query is not None:
            return float(self.query(arch))
        assert self.objective is not None
        return self.objective.value(self.space.encode(arch))

    def predicted(self, arch: Architecture) -> float | None:
        if self.objective is None:
            return None
        return self.objective.value(self.space.encode(arch))

    def feasible(self, arch: Architecture) -> bool:
        return all(c.feasible(arch) for c in self.constraints)

    def budget_report(self, arch: Architecture) -> list[BudgetRow]:
        """One typed row per budget: the exact cost of ``arch``, its slack and verdict."""
        return budget_rows(self.constraints, arch)


@dataclass
class SearchResult:
    """What a solver returns: the architecture, each budget's value and slack, objective, status."""

    arch: Architecture
    objective: float
    budgets: list[BudgetRow]
    solver: str
    status: str
    wall_s: float
    predicted: float | None = None
    queries: int = 0
    gap: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return all(row.ok for row in self.budgets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": str(self.arch),
            "space": self.arch.space,
            "objective": self.objective,
            "predicted": self.predicted,
            "budgets": [row.to_json() for row in self.budgets],
            "feasible": self.feasible,
            "solver": self.solver,
            "status": self.status,
            "gap": self.gap,
            "queries": self.queries,
            "wall_s": self.wall_s,
        }


class Solver(ABC):
    """Base class. Subclasses implement :meth:`_solve`; :meth:`solve` checks and records."""

    name: str = ""

    def solve(self, problem: Problem) -> SearchResult:
        """Solve ``problem``; the result is verified against every budget before it is returned."""
        start = time.perf_counter()
        check_achievable(problem)
        arch, info = self._solve(problem)
        arch = problem.space.canonicalize(arch)
        report = problem.budget_report(arch)
        if not all(row.ok for row in report):
            broken = ", ".join(
                f"{row.metric}={row.value:.4g} > {row.limit:.4g}" for row in report if not row.ok
            )
            raise SolverFailedError(f"{self.name} produced an over-budget architecture ({broken})")
        return SearchResult(
            arch=arch,
            objective=problem.score(arch) if info.get("objective") is None else info["objective"],
            budgets=report,
            solver=self.name,
            status=info.get("status", "feasible"),
            wall_s=time.perf_counter() - start,
            predicted=problem.predicted(arch),
            queries=int(info.get("queries", 0)),
            gap=info.get("gap"),
            history=info.get("history", []),
        )

    @abstractmethod
    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        """Return a feasible architecture and a dict (status, gap, queries, objective, history)."""


# ---- ask/tell ------------------------------------------------------------------------------------
class QuerySolver(Solver):
    """A solver that proposes architectures (``ask``) and learns their measured value (``tell``).

    The base class runs the loop: a proposal that breaks a budget is rejected for free (costs are
    known from tables and counts); each feasible, not-yet-seen proposal costs one query. The
    search stops early ("stalled") after ``patience`` proposals in a row bring nothing new
    (default ``500 + 10 * n_queries``; a sampler that is slow per proposal sets a smaller one).
    """

    patience: int | None = None

    def __init__(
        self, n_queries: int = 100, seed: int | None = 0, max_proposals: int | None = None
    ):
        if n_queries < 1:
            raise ValueError("n_queries must be at least 1")
        self.n_queries = n_queries
        self.seed = seed
        self.max_proposals = max_proposals

    @abstractmethod
    def start(self, problem: Problem, rng: np.random.Generator) -> None:
        """Reset state for a new problem."""

    @abstractmethod
    def ask(self) -> Architecture:
        """Propose the next architecture."""

    def tell(self, arch: Architecture, value: float | None) -> None:
        """Learn ``value`` of ``arch``; ``None`` means the proposal broke a budget."""

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        begun = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        self.start(problem, rng)
        seen: dict[Architecture, float] = {}
        infeasible: set[Architecture] = set()
        proposals = since_new = 0
        limit = self.max_proposals or 200 * self.n_queries + 10_000
        patience = self.patience or 500 + 10 * self.n_queries
        history = []
        status = "query_budget"
        while len(seen) < self.n_queries:
            if proposals >= limit or since_new >= patience:
                status = "stalled"  # nothing new for a long time: likely all feasible seen
                break
            try:
                arch = problem.space.canonicalize(self.ask())
            except SearchExhausted:
                status = "exhausted"
                break
            proposals += 1
            since_new += 1
            if arch in seen:
                self.tell(arch, seen[arch])
                continue
            if arch in infeasible or not problem.feasible(arch):
                infeasible.add(arch)
                self.tell(arch, None)
                continue
            value = problem.score(arch)
            since_new = 0
            seen[arch] = value
            history.append(
                {
                    "query": len(seen),
                    "arch": str(arch),
                    "value": value,
                    "wall_s": time.perf_counter() - begun,
                }
            )
            self.tell(arch, value)
        if not seen:
            raise SolverFailedError(
                f"{self.name}: no feasible architecture among {proposals} proposals"
            )
        best = max(seen, key=seen.__getitem__)
        return best, {
            "objective": seen[best],
            "queries": len(seen),
            "status": status,
            "history": history,
        }
