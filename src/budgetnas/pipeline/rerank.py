"""Re-ranking: the predictor proposes, the supernet decides.

An additive predictor fitted on noisy supernet evaluations ranks architectures only roughly, and
its single best answer under a budget is often not the best network it would have proposed. The
usual remedy is cheap: take the predictor's ``k`` best distinct networks under every budget and
keep the one the supernet itself scores best (one-shot held-out accuracy after BatchNorm
recalibration), the same criterion by which the baselines of ``budgetnas bench baselines`` are
chosen.

:func:`top_k` solves the integer program ``k`` times, each time excluding the networks found so
far by a no-good cut on the binaries that define them (``SearchSpace.defining_indices``), so the
``k`` answers are ``k`` different networks, in the predictor's order. Every one of them is
verified against every budget by the solver, so re-ranking can never break a budget.
:func:`reranker` wraps this into the chooser that :func:`~budgetnas.pipeline.search.closed_loop`
calls in each round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.costs._base import Constraint
from budgetnas.forms import QuadraticForm


def check_rerank(k: int, solver: str) -> None:
    """Refuse a re-ranking setting that cannot run: ``k`` below 1, or ``k > 1`` with a solver
    other than ``milp`` (only its no-good cuts give the ``k`` best distinct networks)."""
    if k < 1:
        raise ValueError(f"rerank must be at least 1 (1: no re-ranking), got {k}")
    if k > 1 and solver != "milp":
        raise ValueError(
            f"rerank {k} needs the milp solver (it takes the predictor's best {k} distinct "
            f"networks); got solver {solver!r}"
        )


def top_k(
    space,
    objective: QuadraticForm,
    constraints: Sequence[Constraint],
    k: int,
    time_limit: float = 60.0,
) -> list:
    """The ``k`` best distinct networks by ``objective`` within every budget (``milp``), best
    first; fewer when fewer fit. Raises ``InfeasibleBudgetError`` when none does."""
    from budgetnas.search import Problem
    from budgetnas.search.errors import SolverFailedError
    from budgetnas.search.milp import MILPSolver

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    solver = MILPSolver(time_limit=time_limit)
    problem = Problem(space, list(constraints), objective=objective)
    found = []
    for _ in range(k):
        try:
            result = solver.solve(problem)
        except SolverFailedError:
            if found:  # fewer than k networks fit every budget
                break
            raise
        found.append(result)
        solver.exclude.add(result.arch)
    return found


def reranker(
    space,
    objective: QuadraticForm,
    k: int,
    score: Callable[[Architecture], float],
    log: Callable[[str], None] | None = None,
) -> Callable[[Sequence[Constraint]], object]:
    """A chooser for :func:`~budgetnas.pipeline.search.closed_loop`: the best by ``score`` of
    :func:`top_k` ``k`` under the round's budgets. The result's ``history`` ends with the
    candidates (architecture, predicted accuracy, score) and which was chosen."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")

    def choose(constraints: Sequence[Constraint]):
        start = time.perf_counter()
        candidates = top_k(space, objective, constraints, k)
        scores = [float(score(r.arch)) for r in candidates]
        best = int(np.argmax(scores))
        chosen = candidates[best]
        if log is not None:
            log(
                f"re-ranked the predictor's {len(candidates)} best networks by one-shot accuracy: "
                f"picked #{best + 1} ({scores[best]:.4f}; the predictor's first scored "
                f"{scores[0]:.4f})"
            )
        record = {
            "rerank": [
                {"arch": str(r.arch), "predicted": r.predicted, "score": s}
                for r, s in zip(candidates, scores, strict=True)
            ],
            "chosen": best,
        }
        return replace(
            chosen,
            history=[*chosen.history, record],
            wall_s=time.perf_counter() - start,
            solver=f"{chosen.solver}+rerank{k}",
        )

    return choose


__all__ = ["check_rerank", "reranker", "top_k"]
