"""The integer program every exact step shares, and the achievability check of a problem.

:class:`Program` holds the matrices of a mixed-integer linear program over a space's one-hot
binaries ``x`` and one auxiliary ``z in [0, 1]`` per product ``x_i x_j`` of binaries in two
*interacting* groups (groups joined by a pair term of some form). Instead of the textbook
``z <= x_i``, ``z <= x_j``, ``z >= x_i + x_j - 1`` it uses the equivalent but much tighter form
that one-hot groups allow: for two interacting groups, ``sum_j z_ij = x_i`` for each option ``i``
of one and symmetrically, so with binary ``x`` every form is evaluated exactly and the LP
relaxation is nearly integral (docs/methods/search.md). It is solved by HiGHS
(``scipy.optimize.milp``); the ``milp`` solver, the Frank-Wolfe relaxation's start and rounding,
and :func:`check_achievable` all build one.

:func:`check_achievable` is what :meth:`~budgetnas.search.Solver.solve` runs first: it raises
:class:`~budgetnas.search.errors.InfeasibleBudgetError`, naming the cheapest achievable value of
each budget, when no architecture meets them.

Example:
    >>> from budgetnas.forms import QuadraticForm
    >>> from budgetnas.spaces.toy import ToySpace
    >>> space = ToySpace((2, 3))
    >>> form = QuadraticForm(1.0, np.array([0.0, 2.0, 3.0, 1.0, 5.0]))
    >>> minimum_of_form(space, form)
    2.0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.search.errors import InfeasibleBudgetError, SolverFailedError
from budgetnas.spaces._base import SearchSpace

if TYPE_CHECKING:
    from budgetnas.costs._base import Constraint
    from budgetnas.search._base import Problem

__all__ = [
    "ENUMERATION_LIMIT",
    "Program",
    "achievability_key",
    "cheapest_value",
    "check_achievable",
    "cost_vector",
    "drop_intra_group",
    "interacting_groups",
    "minimum_of_form",
    "relaxation_feasible",
]

#: spaces with at most this many architectures are enumerated instead of solved
ENUMERATION_LIMIT = 200_000


def drop_intra_group(form: QuadraticForm, space: SearchSpace) -> QuadraticForm:
    """``form`` without its pair terms inside one group (always 0 at a one-hot ``x``)."""
    g = space.group_of
    keep = g[form.pair_i] != g[form.pair_j]
    return QuadraticForm(
        form.const, form.linear, form.pair_i[keep], form.pair_j[keep], form.pair_w[keep]
    )


def interacting_groups(space: SearchSpace, forms: Sequence[QuadraticForm]) -> frozenset:
    """The pairs of groups joined by a product term in some form: all a program depends on."""
    group_of = space.group_of
    touched = set()
    for form in forms:
        g, h = group_of[form.pair_i], group_of[form.pair_j]
        cross = g != h
        touched.update(
            zip(np.minimum(g, h)[cross].tolist(), np.maximum(g, h)[cross].tolist(), strict=True)
        )
    return frozenset(touched)


class Program:
    """The MILP matrices for one space and a set of forms (objective and budgets): the one-hot
    rows and the tight linearization of every product of interacting groups (module doc)."""

    def __init__(self, space: SearchSpace, forms: Sequence[QuadraticForm]):
        self.space = space
        self.n = space.n_binaries
        touched = sorted(interacting_groups(space, forms))
        # one z per option pair of every interacting pair of groups; products inside a group are
        # always 0 for one-hot x and need no variable
        pairs: dict[tuple[int, int], int] = {}
        for g, h in touched:
            for i in range(space.group_slice(g).start, space.group_slice(g).stop):
                for j in range(space.group_slice(h).start, space.group_slice(h).stop):
                    pairs[(i, j)] = len(pairs)
        self.pairs = pairs
        self.m = len(pairs)
        self._build_base(touched)

    def _build_base(self, touched: list[tuple[int, int]]) -> None:
        from scipy import sparse

        space, n, pairs = self.space, self.n, self.pairs
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
        for g, h in touched:
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
        """Minimize ``objective @ [x, z]``; ``budget_rows`` are (coefficients, upper bound),
        ``cuts`` the binaries of excluded networks (no-good: not all of them at once). Returns
        scipy's ``OptimizeResult``."""
        from scipy import sparse
        from scipy.optimize import Bounds, LinearConstraint, milp

        A = [self.base]
        lo = [self.base_lo]
        hi = [self.base_hi]
        if budget_rows:
            A.append(sparse.csr_array(np.stack([b for b, _ in budget_rows])))
            lo.append(np.full(len(budget_rows), -np.inf))
            hi.append(np.array([u for _, u in budget_rows]))
        cuts = [np.asarray(c, dtype=int) for c in cuts]
        if cuts:
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
        """The architecture of a solution vector (its binaries rounded)."""
        return self.space.decode(np.round(sol[: self.n]))


def minimum_of_form(space: SearchSpace, form: QuadraticForm, time_limit: float = 60.0) -> float:
    """The smallest value of ``form`` over the architectures of ``space`` (exact MILP)."""
    program = Program(space, [form])
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
    program = Program(problem.space, forms)
    res = program.solve(
        np.zeros(program.n + program.m),
        [(program.row(f), u) for f, u in rows],
        [],
        time_limit,
        1e-6,
    )
    return res.x is not None


# ---- achievability -----------------------------------------------------------------------------
def cost_vector(
    constraint: Constraint, space: SearchSpace, archs: Sequence[Architecture]
) -> np.ndarray:
    """Exact costs of many architectures (vectorized where the cost model offers it)."""
    many = getattr(constraint.cost, "evaluate_many", None)
    if many is not None:
        return np.asarray(many(archs), dtype=float)
    return np.array([constraint.cost.evaluate(a) for a in archs])


def achievability_key(problem: Problem) -> tuple:
    """What the achievability of ``problem`` depends on: its space's budgets and cost models."""
    return tuple((c.budget.metric, c.budget.limit, id(c.cost)) for c in problem.constraints)


def cheapest_value(space: SearchSpace, constraint: Constraint) -> float | None:
    """The smallest value of ``constraint``'s cost over ``space``: the cost model's own exact
    ``minimum()`` where it has one, else the minimum of its form plus the form's lower residual
    bound (a lower bound of the cost); None for a cost with neither."""
    own = getattr(constraint.cost, "minimum", None)
    if own is not None:
        return float(own())
    form = constraint.cost.quadratic_form()
    if form is None:
        return None
    return minimum_of_form(space, form) + constraint.cost.residual_min


def check_achievable(problem: Problem) -> None:
    """Raise :class:`InfeasibleBudgetError` when no architecture meets every budget.

    Small spaces are enumerated (exact); otherwise each budget is compared with the cheapest value
    of its cost (the cost model's own exact ``minimum()`` where it has one, else the minimum of its
    exact form, or of its form's lower bound), and the budgets
    jointly by a feasibility MILP. A problem found achievable remembers it
    (``problem.achievable_key``), so solving it again skips the check.
    """
    if not problem.constraints:
        return
    space = problem.space
    key = achievability_key(problem)
    if problem.achievable_key == key:
        return
    cheapest: dict[str, float] = {}
    if space.size <= ENUMERATION_LIMIT:
        archs = list(space.all_archs())
        costs = np.stack([cost_vector(c, space, archs) for c in problem.constraints])
        limits = np.array([c.budget.limit + c.budget.tolerance for c in problem.constraints])
        ok = costs <= limits[:, None]
        for c, row in zip(problem.constraints, costs, strict=True):
            cheapest[c.budget.metric] = float(row.min())
        _raise_if_none(problem, cheapest, bool(ok.all(axis=0).any()))
    else:
        for c in problem.constraints:
            low = cheapest_value(space, c)
            if low is not None:
                cheapest[c.budget.metric] = low
        _raise_if_none(problem, cheapest, relaxation_feasible(problem))
    problem.achievable_key = key


def _raise_if_none(problem: Problem, cheapest: dict[str, float], any_ok: bool) -> None:
    single = [
        c
        for c in problem.constraints
        if c.budget.metric in cheapest and not c.budget.feasible(cheapest[c.budget.metric])
    ]
    if single:
        parts = [
            f"{c.budget} is below the cheapest architecture of space {problem.space.name!r} "
            f"({c.budget.metric}={cheapest[c.budget.metric]:.6g})"
            for c in single
        ]
        raise InfeasibleBudgetError("infeasible budget: " + "; ".join(parts), cheapest)
    if not any_ok:
        budgets = ", ".join(str(c.budget) for c in problem.constraints)
        values = ", ".join(f"{k}>={v:.6g}" for k, v in cheapest.items())
        raise InfeasibleBudgetError(
            f"infeasible budgets: each of {budgets} can be met alone, but no architecture of space "
            f"{problem.space.name!r} meets them all at once (cheapest alone: {values})",
            cheapest,
        )
