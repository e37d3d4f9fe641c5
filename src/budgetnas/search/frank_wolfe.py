"""Block-coordinate Frank-Wolfe on the relaxed problem (HardCoRe-NAS, ALGORITHMS.md section 4).

Each one-hot group is relaxed to a probability vector; a quadratic form's value at such a product
distribution is its expectation. Groups are partitioned into blocks with no pair term inside a
block (a greedy colouring of the interaction graph), so with the other blocks fixed, the objective
and every budget are linear in the block. A step solves the LP ``v = argmax grad @ v`` over the
block's simplices and budgets, then moves ``x <- x + gamma (v - x)``: both ends are feasible, so
every iterate is. Budgets use ``form + r_max <= B``, which implies the exact cost is within budget.
Discretization fixes one group at a time to its best option among those that keep every budget
satisfied with the rest still relaxed (with one budget such an option always exists: the cheapest
option costs no more than the current mixture). With several budgets this can get stuck; then the
best architecture inside the support of the relaxed point is found by the exact MILP (and the
result's status says so).

The pieces (relaxed budgets, feasible start, the block LP, feasible rounding) are module functions
shared with the supernet-driven variant, :mod:`budgetnas.search.hardcore`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linprog

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.search import register_solver
from budgetnas.search._base import InfeasibleBudgetError, Problem, Solver, SolverFailedError
from budgetnas.spaces._base import SearchSpace

#: one relaxed budget: the form (without products inside a group) and its limit ``B - r_max``
RelaxedBudget = tuple[QuadraticForm, float]


def _drop_intra_group(form: QuadraticForm, space: SearchSpace) -> QuadraticForm:
    g = space.group_of
    keep = g[form.pair_i] != g[form.pair_j]
    return QuadraticForm(
        form.const, form.linear, form.pair_i[keep], form.pair_j[keep], form.pair_w[keep]
    )


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
        out.append((_drop_intra_group(form, problem.space), c.budget.limit - c.cost.residual_max))
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
    from budgetnas.search.milp import _Program

    forms = [b for b, _ in budgets]
    program = _Program(space, forms)
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
    from budgetnas.search.milp import _Program

    program = _Program(space, [f] + [b for b, _ in budgets])
    rows = [(program.row(b), lim - b.const) for b, lim in budgets]
    outside = np.zeros(program.n + program.m)
    outside[: space.n_binaries] = ~support
    for extra in ([(outside, 0.0)], []):
        res = program.solve(-program.row(f), rows + extra, [], 60.0, 1e-6)
        if res.x is not None:
            return program.decode(res.x), ("milp-support" if extra else "milp-full")
    raise SolverFailedError(f"{solver}: no architecture meets every budget with margins")


@register_solver("frank-wolfe")
class FrankWolfeSolver(Solver):
    """Relaxed block-coordinate Frank-Wolfe with feasible iterates and feasible rounding.

    Example:
        >>> from budgetnas.search import create_solver
        >>> solver = create_solver("frank-wolfe", steps=300)
    """

    name = "frank-wolfe"

    def __init__(
        self,
        steps: int = 300,
        step_size: float | None = None,
        seed: int | None = 0,
        tol: float = 1e-9,
    ):
        self.steps = steps
        self.step_size = step_size
        self.seed = seed
        self.tol = tol

    def _solve(self, problem: Problem) -> tuple[Architecture, dict[str, Any]]:
        if problem.objective is None:
            raise ValueError("frank-wolfe needs an objective form (a predictor)")
        space = problem.space
        f = _drop_intra_group(problem.objective, space)
        budgets = relaxed_budgets(problem, self.name)
        blocks = color_groups(space, [f] + [b for b, _ in budgets])
        x = feasible_start(space, budgets, self.tol, self.name)
        rng = np.random.default_rng(self.seed)
        history = []
        nb = len(blocks)
        for t in range(self.steps):
            block = blocks[int(rng.integers(nb))] if nb > 1 else blocks[0]
            idx = block_indices(space, block)
            _, grad = f.linear_in(x, idx)
            v = block_lp(space, block, idx, grad, x, budgets)
            gamma = self.step_size if self.step_size is not None else 2.0 / (t // nb + 2.0)
            x[idx] = x[idx] + gamma * (v - x[idx])
            if t % max(1, self.steps // 20) == 0 or t == self.steps - 1:
                history.append(
                    {
                        "step": t,
                        "objective": f.value(x),
                        "budgets": [form.value(x) for form, _ in budgets],
                    }
                )
        arch, self.rounding_ = discretize(space, f, budgets, x, self.tol, self.name)
        return arch, {
            "status": f"relaxed {self.steps} steps, rounding: {self.rounding_}",
            "history": history,
        }
