"""Random small bilinear problems with known answers (by enumeration)."""

from __future__ import annotations

import numpy as np

from budgetnas.costs._base import Constraint, FormCost
from budgetnas.forms import QuadraticForm
from budgetnas.search._base import Problem
from budgetnas.spaces._base import SearchSpace
from budgetnas.spaces.table import pair_indices
from budgetnas.spaces.toy import ToySpace
from budgetnas.units import Budget

__all__ = ["brute_force", "random_form", "random_problem"]


def random_form(
    space: SearchSpace,
    rng: np.random.Generator,
    pair_density: float = 0.3,
    scale: float = 1.0,
    positive: bool = False,
    const: float = 0.0,
) -> QuadraticForm:
    """A random quadratic form with pair terms on a random subset of cross-group pairs."""
    n = space.n_binaries
    pi, pj = pair_indices(space)
    keep = rng.random(pi.size) < pair_density
    if positive:
        lin = rng.uniform(0.1, 1.0, n) * scale
        w = rng.uniform(0.0, 0.5, keep.sum()) * scale
    else:
        lin = rng.normal(size=n) * scale
        w = rng.normal(size=keep.sum()) * 0.5 * scale
    return QuadraticForm(const, lin, pi[keep], pj[keep], w)


def random_problem(
    seed: int,
    sizes=(3, 4, 2, 3),
    n_budgets: int = 2,
    quantile: float = 0.4,
    space: SearchSpace | None = None,
) -> Problem:
    """A problem whose budgets are quantiles of random positive bilinear costs (so some
    architectures are feasible, not all); the query is the objective form itself."""
    rng = np.random.default_rng(seed)
    space = space or ToySpace(sizes)
    objective = random_form(space, rng)
    X = space.encode_many(list(space.enumerate()))
    constraints = []
    metrics = ["latency_ms", "params_m", "flops_m", "energy_mj"]
    for k in range(n_budgets):
        form = random_form(space, rng, positive=True, const=0.5)
        values = form.values(X)
        limit = float(np.quantile(values, min(1.0, quantile + 0.3 * k / max(1, n_budgets))))
        constraints.append(Constraint(Budget(metrics[k], limit), FormCost(metrics[k], form, space)))

    def query(arch):
        return objective.value(space.encode(arch))

    return Problem(space, constraints, objective=objective, query=query)


def brute_force(problem: Problem) -> tuple[float, list]:
    """The best objective value over feasible architectures and the list of optimal ones."""
    best, arg = -np.inf, []
    for arch in problem.space.enumerate():
        if problem.feasible(arch):
            v = (
                problem.objective.value(problem.space.encode(arch))
                if problem.objective
                else problem.score(arch)
            )
            if v > best + 1e-9:
                best, arg = v, [arch]
            elif abs(v - best) <= 1e-9:
                arg.append(arch)
    return best, arg
