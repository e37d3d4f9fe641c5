"""Exact search: a mixed-integer linear program solved by HiGHS (``scipy.optimize.milp``).

Products of binaries ``x_i x_j`` in the objective or in a budget's bilinear form get an auxiliary
``z in [0, 1]`` with the tight linearization of :class:`~budgetnas.search.program.Program`
(docs/methods/search.md): every form is evaluated exactly and the LP relaxation is nearly integral
(HiGHS then solves the NAS-Bench-201 program with pairwise terms in milliseconds, not seconds).

A budget whose cost model is only approximated by its form (residuals ``r_min <= cost - form <=
r_max``) enters as ``form + r_min <= B``: necessary, so no feasible architecture is cut off. The
solution is then checked with the exact cost; an over-budget architecture is excluded by a no-good
cut (``sum of the binaries that define its network <= their number - 1``; see
``SearchSpace.defining_indices``: blocks beyond a stage's depth are left out, so every encoding
of the network is cut) and the program solved again (lazy cuts). The same cuts exclude
architectures already evaluated (``exclude``), which gives the best ``k`` distinct networks by
solving ``k`` times (:func:`budgetnas.pipeline.rerank.top_k`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from budgetnas.arch import Architecture
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, Solver
from budgetnas.search.errors import SolverFailedError
from budgetnas.search.program import (
    Program,
    interacting_groups,
    minimum_of_form,
    relaxation_feasible,
)

# minimum_of_form and relaxation_feasible moved to budgetnas.search.program; kept importable here
__all__ = ["MILPSolver", "minimum_of_form", "relaxation_feasible"]


@register_solver("milp")
class MILPSolver(Solver):
    """Exact maximization of a quadratic objective under bilinear budgets, with no-good cuts.

    ``exclude`` holds architectures the answer must differ from (for example those already
    evaluated); it may be updated between calls. HiGHS presolve is off by default: on these
    programs (a few hundred columns, solved at the root) it doubled the solve time. Over-budget
    architectures found through an approximate form are remembered, so later calls on the same
    budgets skip them at once.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("milp", time_limit=10.0)
    """

    name = "milp"

    def __init__(
        self,
        time_limit: float = 60.0,
        mip_rel_gap: float = 1e-6,
        exclude: Iterable[Architecture] = (),
        max_lazy_rounds: int = 10_000,
        presolve: bool = False,
    ):
        self.presolve = presolve
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap
        self.exclude: set[Architecture] = set(exclude)
        self.max_lazy_rounds = max_lazy_rounds
        self._over_budget: dict[tuple, tuple[tuple, set[Architecture]]] = {}
        self._programs: dict[tuple, Program] = {}

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        if problem.objective is None:
            raise ValueError("milp needs an objective form (a predictor); use iqnas for queries")
        space = problem.space
        forms = [problem.objective]
        rows_spec = []
        for c in problem.constraints:
            form = c.cost.quadratic_form()
            if form is None:
                raise ValueError(
                    f"milp needs a bilinear form for {c.budget.metric}; its cost model has none"
                )
            forms.append(form)
            rows_spec.append((form, c.budget.limit - form.const - c.cost.residual_min))
        # keyed by structure, not by the forms' ids: a refitted predictor (iqnas) reuses the
        # program, and a freed form's id reused by another form cannot select a wrong one
        key = (space.name, space.n_binaries, interacting_groups(space, forms))
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = Program(space, forms)
            if len(self._programs) > 8:
                self._programs.pop(next(iter(self._programs)))
        objective = -program.row(problem.objective)
        budget_rows = [(program.row(f), u) for f, u in rows_spec]
        budget_key = tuple(
            (c.budget.metric, c.budget.limit, id(c.cost)) for c in problem.constraints
        )
        # the entry keeps the cost models alive, so their ids in the key cannot be reused
        _, over = self._over_budget.setdefault(
            budget_key, (tuple(c.cost for c in problem.constraints), set())
        )
        start = time.perf_counter()
        for rounds in range(self.max_lazy_rounds):
            remaining = self.time_limit - (time.perf_counter() - start)
            if remaining <= 0:
                break
            # on the binaries that define the network: every encoding of it is cut at once
            cuts = [space.defining_indices(a) for a in (*self.exclude, *over)]
            res = program.solve(
                objective, budget_rows, cuts, remaining, self.mip_rel_gap, self.presolve
            )
            if res.x is None:
                if res.status == 2:
                    raise SolverFailedError(
                        "milp: no architecture is left that meets every budget and differs from "
                        f"the {len(self.exclude)} excluded ones"
                    )
                raise SolverFailedError(f"milp: {res.message}")
            arch = program.decode(res.x)
            if problem.feasible(arch):
                gap = getattr(res, "mip_gap", None)
                status = "optimal" if res.status == 0 else "time_limit"
                return arch, {
                    "status": status,
                    "gap": None if gap is None else float(gap),
                    "objective": problem.score(arch) if problem.query is not None else None,
                    "history": [{"lazy_cuts": rounds, "over_budget_cached": len(over)}],
                }
            over.add(arch)
        raise SolverFailedError(
            f"milp: time limit {self.time_limit:g}s reached before a feasible architecture was found"
        )
