"""Exact search: a mixed-integer linear program solved by HiGHS (``scipy.optimize.milp``).

Products of binaries ``x_i x_j`` in the objective or in a budget's bilinear form get an auxiliary
``z in [0, 1]``. Instead of the textbook ``z <= x_i``, ``z <= x_j``, ``z >= x_i + x_j - 1``
(ALGORITHMS.md section 4) it uses the equivalent but much tighter form that one-hot groups allow:
for two interacting groups, ``sum_j z_ij = x_i`` for each option ``i`` of one and symmetrically,
so with binary ``x`` every form is evaluated exactly and the LP relaxation is nearly integral
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

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.search import register_solver
from budgetnas.search._base import Problem, Solver, SolverFailedError
from budgetnas.spaces._base import SearchSpace


class _Program:
    """The MILP matrices for one space and a set of forms (objective and budgets)."""

    @staticmethod
    def interacting_groups(space: SearchSpace, forms: list[QuadraticForm]) -> frozenset:
        """The pairs of groups joined by a product term in some form: all the program depends on."""
        group_of = space.group_of
        touched = set()
        for form in forms:
            g, h = group_of[form.pair_i], group_of[form.pair_j]
            cross = g != h
            touched.update(
                zip(np.minimum(g, h)[cross].tolist(), np.maximum(g, h)[cross].tolist(), strict=True)
            )
        return frozenset(touched)

    def __init__(self, space: SearchSpace, forms: list[QuadraticForm]):
        self.space = space
        n = space.n_binaries
        touched = self.interacting_groups(space, forms)
        # one z per option pair of every interacting pair of groups; products inside a group are
        # always 0 for one-hot x and need no variable
        pairs: dict[tuple[int, int], int] = {}
        for g, h in sorted(touched):
            for i in range(space.group_slice(g).start, space.group_slice(g).stop):
                for j in range(space.group_slice(h).start, space.group_slice(h).stop):
                    pairs[(i, j)] = len(pairs)
        self.pairs = pairs
        self.n = n
        self.m = len(pairs)
        rows, cols, vals, lo, hi = [], [], [], [], []
        r = 0
        for g in range(space.n_groups):  # one-hot per group
            sl = space.group_slice(g)
            for k in range(sl.start, sl.stop):
                rows.append(r)
                cols.append(k)
                vals.append(1.0)
            lo.append(1.0)
            hi.append(1.0)
            r += 1
        # the tight (local-marginal) linearization: for interacting groups g, h and each option
        # i of g, sum_j z_ij = x_i (and symmetrically). With binary x it forces z_ij = x_i x_j,
        # and its LP relaxation is far tighter than z <= x_i, z <= x_j, z >= x_i + x_j - 1.
        for g, h in sorted(touched):
            sg, sh = space.group_slice(g), space.group_slice(h)
            for fixed, other, key in ((sg, sh, lambda a, b: (a, b)), (sh, sg, lambda a, b: (b, a))):
                for i in range(fixed.start, fixed.stop):  # sum_j z_ij - x_i = 0
                    rows.append(r)
                    cols.append(i)
                    vals.append(-1.0)
                    for j in range(other.start, other.stop):
                        rows.append(r)
                        cols.append(n + pairs[key(i, j)])
                        vals.append(1.0)
                    lo.append(0.0)
                    hi.append(0.0)
                    r += 1
        self.base = sparse.csr_array((vals, (rows, cols)), shape=(r, n + self.m))
        self.base_lo = np.array(lo)
        self.base_hi = np.array(hi)

    def row(self, form: QuadraticForm) -> np.ndarray:
        """Coefficients of ``form - const`` over [x, z]."""
        c = np.zeros(self.n + self.m)
        c[: self.n] = form.linear
        group_of = self.space.group_of
        for i, j, w in zip(
            form.pair_i.tolist(), form.pair_j.tolist(), form.pair_w.tolist(), strict=True
        ):
            if group_of[i] != group_of[j]:  # a product inside a group is 0 for one-hot x
                c[self.n + self.pairs[(i, j)]] += w
        return c

    def solve(
        self,
        objective: np.ndarray,
        budget_rows: list[tuple[np.ndarray, float]],
        cuts: Iterable[np.ndarray],
        time_limit: float,
        gap: float,
        presolve: bool = False,
    ):
        """Minimize ``objective @ [x, z]``; ``budget_rows`` are (coefficients, upper bound)."""
        A = [self.base]
        lo = [self.base_lo]
        hi = [self.base_hi]
        if budget_rows:
            A.append(sparse.csr_array(np.stack([b for b, _ in budget_rows])))
            lo.append(np.full(len(budget_rows), -np.inf))
            hi.append(np.array([u for _, u in budget_rows]))
        cuts = [np.asarray(c, dtype=int) for c in cuts]
        if cuts:  # no-good: not all binaries of an excluded network at once
            sizes = np.array([len(c) for c in cuts])
            rows = np.repeat(np.arange(len(cuts)), sizes)
            cols = np.concatenate(cuts)
            A.append(
                sparse.csr_array(
                    (np.ones(len(cols)), (rows, cols)), shape=(len(cuts), self.n + self.m)
                )
            )
            lo.append(np.full(len(cuts), -np.inf))
            hi.append(sizes - 1.0)
        integrality = np.concatenate([np.ones(self.n), np.zeros(self.m)])
        return milp(
            objective,
            constraints=LinearConstraint(
                sparse.vstack(A).tocsr(), np.concatenate(lo), np.concatenate(hi)
            ),
            integrality=integrality,
            bounds=Bounds(0.0, 1.0),
            options={
                "time_limit": float(time_limit),
                "mip_rel_gap": float(gap),
                "disp": False,
                "presolve": bool(presolve),
            },
        )

    def decode(self, sol: np.ndarray) -> Architecture:
        return self.space.decode(np.round(sol[: self.n]))


@register_solver("milp")
class MILPSolver(Solver):
    """Exact maximization of a quadratic objective under bilinear budgets, with no-good cuts.

    ``exclude`` holds architectures the answer must differ from (for example those already
    evaluated); it may be updated between calls. HiGHS presolve is off by default: on these
    programs (a few hundred columns, solved at the root) it doubled the solve time. Over-budget architectures found through an
    approximate form are remembered, so later calls on the same budgets skip them at once.

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
        self._programs: dict[tuple, _Program] = {}

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
        key = (space.name, space.n_binaries, _Program.interacting_groups(space, forms))
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = _Program(space, forms)
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


def minimum_of_form(space: SearchSpace, form: QuadraticForm, time_limit: float = 60.0) -> float:
    """The smallest value of ``form`` over the architectures of ``space`` (exact MILP)."""
    program = _Program(space, [form])
    res = program.solve(program.row(form), [], [], time_limit, 1e-9)
    if res.x is None:
        raise SolverFailedError(f"milp: {res.message}")
    return form.value(np.round(res.x[: space.n_binaries]))


def relaxation_feasible(problem: Problem, time_limit: float = 60.0) -> bool:
    """Whether some architecture meets every budget's necessary form condition jointly."""
    forms, rows = [], []
    for c in problem.constraints:
        form = c.cost.quadratic_form()
        if form is not None:
            forms.append(form)
            rows.append((form, c.budget.limit - form.const - c.cost.residual_min))
    if not forms:
        return True
    program = _Program(problem.space, forms)
    res = program.solve(
        np.zeros(program.n + program.m),
        [(program.row(f), u) for f, u in rows],
        [],
        time_limit,
        1e-6,
    )
    return res.x is not None
