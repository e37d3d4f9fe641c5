"""The relaxed problem both Frank-Wolfe solvers work on (``frank-wolfe`` and ``hardcore``).

Each one-hot group is relaxed to a probability vector; a quadratic form's value at such a product
distribution is its expectation. Budgets are taken as ``form + r_max <= B``
(:func:`relaxed_budgets`), which implies the exact cost is within budget. The pieces: a feasible start
(:func:`feasible_start`), blocks of groups with no pair term inside (:func:`color_groups`), the LP
of one block with the others fixed (:func:`block_lp`: the objective and every budget are linear in
the block) and the rounding of a relaxed point to a feasible architecture (:func:`discretize`,
falling back on :func:`round_by_milp`). See docs/methods/search.md.

Example:
    >>> from budgetnas.testing.problems import random_problem
    >>> problem = random_problem(0)
    >>> budgets = relaxed_budgets(problem, "frank-wolfe")
    >>> x = feasible_start(problem.space, budgets, 1e-9, "frank-wolfe")
    >>> is_feasible(budgets, x, 1e-9)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.search.errors import InfeasibleBudgetError, SolverFailedError
from budgetnas.search.program import Program, drop_intra_group
from budgetnas.spaces._base import SearchSpace

if TYPE_CHECKING:
    from budgetnas.search._base import Problem

__all__ = [
    "RelaxedBudget",
    "block_indices",
    "block_lp",
    "color_groups",
    "discretize",
    "feasible_start",
    "is_feasible",
    "relaxed_budgets",
    "round_by_milp",
]

#: one relaxed budget: the form (without products inside a group) and its limit ``B - r_max``
RelaxedBudget = tuple[QuadraticForm, float]


def color_groups(space: SearchSpace, forms: list[QuadraticForm]) -> list[list[int]]:
    """Partition groups into blocks with no pair term inside a block (greedy colouring)."""
    n = space.n_groups
    adj = [set() for _ in range(n)]
    g = space.group_of
    for form in forms:
        for a, b in zip(g[form.pair_i].tolist(), g[form.pair_j].tolist(), strict=True):
            if a != b:
                adj[a].add(b)
                adj[b].add(a)
    color = [-1] * n
    for v in sorted(range(n), key=lambda k: -len(adj[k])):
        used = {color[u] for u in adj[v]}
        c = 0
        while c in used:
            c += 1
        color[v] = c
    blocks = [[v for v in range(n) if color[v] == c] for c in range(max(color) + 1)]
    return blocks


def relaxed_budgets(problem: Problem, solver: str) -> list[RelaxedBudget]:
    """Every budget as ``(form, B - r_max)``: ``form(x) <= B - r_max`` at a one-hot ``x``
    implies the exact cost is within ``B``; at a relaxed ``x`` it bounds the expected cost."""
    out = []
    for c in problem.constraints:
        form = c.cost.quadratic_form()
        if form is None:
            raise ValueError(f"{solver} needs a bilinear form for {c.budget.metric}")
        out.append((drop_intra_group(form, problem.space), c.budget.limit - c.cost.residual_max))
    return out


def is_feasible(budgets: list[RelaxedBudget], x: np.ndarray, tol: float) -> bool:
    return all(form.value(x) <= limit + tol * max(1.0, abs(limit)) for form, limit in budgets)


def block_indices(space: SearchSpace, block: list[int]) -> np.ndarray:
    """The binary indices of the groups of ``block``, group by group."""
    return np.concatenate(
        [np.arange(space.group_slice(g).start, space.group_slice(g).stop) for g in block]
    )


def feasible_start(
    space: SearchSpace, budgets: list[RelaxedBudget], tol: float, solver: str
) -> np.ndarray:
    """The most uniform feasible point on the segment from a feasible vertex to uniform."""
    uniform = np.concatenate([np.full(s, 1.0 / s) for s in space.group_sizes])
    if is_feasible(budgets, uniform, tol):
        return uniform
    forms = [b for b, _ in budgets]
    program = Program(space, forms)
    res = program.solve(
        np.zeros(program.n + program.m),
        [(program.row(b), lim - b.const) for b, lim in budgets],
        [],
        60.0,
        1e-6,
    )
    if res.x is None:
        raise InfeasibleBudgetError(
            f"{solver}: no architecture satisfies the budgets with the cost models' "
            "residual margins (form + r_max <= B); the budgets may be achievable exactly, "
            "but this relaxation cannot guarantee them: use the milp or exhaustive solver"
        )
    vertex = np.round(res.x[: space.n_binaries])
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if is_feasible(budgets, (1 - mid) * vertex + mid * uniform, tol):
            lo = mid
        else:
            hi = mid
    return (1 - lo) * vertex + lo * uniform


def block_lp(
    space: SearchSpace,
    block: list[int],
    idx: np.ndarray,
    score: np.ndarray,
    x: np.ndarray,
    budgets: list[RelaxedBudget],
) -> np.ndarray:
    """``v = argmax score @ v`` over the simplices of ``block`` subject to every budget, the
    binaries outside the block fixed at ``x`` (each budget is linear in the block)."""
    from scipy.optimize import linprog

    A_ub, b_ub = [], []
    for form, limit in budgets:
        const, coef = form.linear_in(x, idx)
        A_ub.append(coef)
        b_ub.append(limit - const)
    A_eq = np.zeros((len(block), len(idx)))
    pos = 0
    for r, g in enumerate(block):
        size = space.group_sizes[g]
        A_eq[r, pos : pos + size] = 1.0
        pos += size
    res = linprog(
        -score,
        A_ub=np.array(A_ub) if A_ub else None,
        b_ub=np.array(b_ub) if b_ub else None,
        A_eq=A_eq,
        b_eq=np.ones(len(block)),
        bounds=(0.0, 1.0),
        method="highs",
    )
    if res.x is None:  # numerically the current point is the only feasible one
        return x[idx].copy()
    return np.clip(res.x, 0.0, 1.0)


def discretize(
    space: SearchSpace,
    f: QuadraticForm,
    budgets: list[RelaxedBudget],
    x: np.ndarray,
    tol: float,
    solver: str,
) -> tuple[Architecture, str]:
    """Round the feasible relaxed point ``x`` to a feasible architecture maximizing ``f``
    greedily (one group at a time, most decided first); returns the architecture and how it was
    rounded (``greedy``, ``milp-support`` or ``milp-full``)."""
    support = x > 1e-6
    x = x.copy()
    order = sorted(range(space.n_groups), key=lambda g: -x[space.group_slice(g)].max())
    for g in order:
        sl = space.group_slice(g)
        idx = np.arange(sl.start, sl.stop)
        _, obj = f.linear_in(x, idx)
        ok = np.ones(len(idx), dtype=bool)
        slack_worst = np.zeros(len(idx))
        for form, limit in budgets:
            const, coef = form.linear_in(x, idx)
            over = const + coef - limit
            ok &= over <= tol * max(1.0, abs(limit))
            slack_worst = np.maximum(slack_worst, over / max(abs(limit), 1e-12))
        if ok.any():
            c = int(np.argmax(np.where(ok, obj, -np.inf)))
        else:
            c = int(np.argmin(slack_worst))
        x[idx] = 0.0
        x[idx[c]] = 1.0
    arch = space.decode(x)
    if is_feasible(budgets, space.encode(arch), tol):
        return arch, "greedy"
    return round_by_milp(space, f, budgets, support, solver)


def round_by_milp(
    space: SearchSpace,
    f: QuadraticForm,
    budgets: list[RelaxedBudget],
    support: np.ndarray,
    solver: str,
) -> tuple[Architecture, str]:
    """With several budgets, one-group-at-a-time rounding can get stuck (each budget alone
    has a feasible option, not all at once). Then the best architecture inside the support
    of the relaxed solution is found exactly; failing that, in the whole space."""
    program = Program(space, [f] + [b for b, _ in budgets])
    rows = [(program.row(b), lim - b.const) for b, lim in budgets]
    outside = np.zeros(program.n + program.m)
    outside[: space.n_binaries] = ~support
    for extra in ([(outside, 0.0)], []):
        res = program.solve(-program.row(f), rows + extra, [], 60.0, 1e-6)
        if res.x is not None:
            return program.decode(res.x), ("milp-support" if extra else "milp-full")
    raise SolverFailedError(f"{solver}: no architecture meets every budget with margins")
