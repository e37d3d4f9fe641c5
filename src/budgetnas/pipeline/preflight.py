"""What ``budgetnas run`` checks before it trains anything (well under a second).

:func:`preflight` refuses, with the setting named and what to use instead:

* a budget that does not parse (metric, unit, value) or two budgets on one metric;
* a budget ``run`` cannot serve: it measures ``latency_ms`` on this machine (a table it builds),
  reads ``latency_NAME_ms`` from device NAME's imported table, and counts ``params_m``,
  ``macs_m``, ``flops_m`` and ``peak_kb``; energy budgets and relative budgets (``flops_ratio``,
  ``latency_pct``) need a table or a reference network that ``run`` has no option for;
* a device budget whose device was never imported, or whose table was measured for another
  space preset than the run's;
* an unknown solver, or re-ranking with a solver that cannot give the ``k`` best networks;
* an unknown dataset, or one whose shape does not fit the space preset;
* a counted (or device) budget below the cheapest network of the space (the exact minimum of
  its cost), or such budgets that no network meets together.

The checks on the space are skipped when the run reuses a supernet trained elsewhere (``supernet``
set): its space is the checkpoint's, checked when the run opens it.

Example:
    >>> from budgetnas.pipeline.config import RunConfig
    >>> cfg = RunConfig.from_preset("tiny", data="synthetic", budgets=["params_m<=0.01"])
    >>> preflight(cfg)
    Traceback (most recent call last):
    ...
    budgetnas.search.errors.InfeasibleBudgetError: no network of this space meets params_m<=0.01: the cheapest has 0.027252 (space preset 'tiny'); give a limit of at least that
"""

from __future__ import annotations

from budgetnas.units import Budget

__all__ = ["COUNTED_METRICS", "SERVED_METRICS", "preflight"]

#: budgets ``run`` evaluates exactly from the space (analytic counts, peak memory)
COUNTED_METRICS = ("params_m", "macs_m", "flops_m", "peak_kb")
#: every budget ``run`` can serve: the counted ones and this machine's latency
SERVED_METRICS = ("latency_ms", *COUNTED_METRICS)

_SERVED = (
    "run serves latency_ms (measured on this machine, in a table it builds), latency_NAME_ms "
    "(device NAME's table, `budgetnas lut import --name NAME`) and the counted "
    + ", ".join(COUNTED_METRICS)
)


def preflight(cfg, out=None) -> None:
    """Refuse a run configuration that cannot finish, before any training (module doc); ``out``:
    the run directory, whose own copies of device tables count as imported."""
    from budgetnas.costs.device_tables import device_of_metric
    from budgetnas.executors.base import check_executor_settings
    from budgetnas.pipeline.devices import find_device
    from budgetnas.pipeline.rerank import check_rerank
    from budgetnas.pipeline.search import resolve_budgets

    budgets = resolve_budgets(cfg.budgets)
    for budget in budgets:
        _check_served(budget)
    # the predictor's workers evaluate on the run's one device
    check_executor_settings(cfg.predictor, device=cfg.train.device)
    _check_solver(cfg.search.solver)
    check_rerank(cfg.search.rerank, cfg.search.solver)
    devices = {b.metric: device_of_metric(b.metric) for b in budgets}
    devices = {m: name for m, name in devices.items() if name is not None}
    if cfg.supernet is not None:
        for name in devices.values():
            find_device(cfg, out, name)  # the space is the checkpoint's: checked when opened
        return
    from budgetnas.training.supernet import resolve_space

    space = resolve_space(cfg.train)  # the dataset's name and shape against the preset
    tables = {m: find_device(cfg, out, name, space)[0] for m, name in devices.items()}
    checked = [b for b in budgets if b.metric in COUNTED_METRICS or b.metric in tables]
    _check_cheapest(space, checked, tables)


def _check_served(budget: Budget) -> None:
    from budgetnas.costs.device_tables import device_of_metric

    metric = budget.metric
    if metric in SERVED_METRICS or device_of_metric(metric) is not None:
        return
    if metric.endswith("_ratio"):
        raise ValueError(
            f"budget {budget.text!r} is relative to a reference network, which run has none of; "
            f"give an absolute budget instead: {_SERVED}"
        )
    if metric == "energy_mj":
        raise ValueError(
            f"budget {budget.text!r}: run measures no energy and takes no energy table; "
            f"{_SERVED}. Budget macs_m or flops_m as the energy proxy instead"
        )
    raise ValueError(
        f"budget {budget.text!r}: run has no table for {metric!r} (a device or metric it does "
        f"not measure); {_SERVED}. Use latency_ms for this machine's latency"
    )


def _check_solver(solver: str) -> None:
    from budgetnas.search import list_solvers

    known = list_solvers()
    if solver not in known:
        import difflib

        close = difflib.get_close_matches(solver, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(known)}.{hint}")


def _check_cheapest(space, budgets: list[Budget], tables: dict | None = None) -> None:
    """Each counted or device budget against the exact cheapest network, then all of them
    together (``tables``: the device budgets' tables)."""
    from budgetnas.costs.registry import constraint
    from budgetnas.search import InfeasibleBudgetError
    from budgetnas.search.program import cheapest_value, relaxation_feasible

    if not budgets:
        return
    constraints = [constraint(b, space, tables=tables or {}) for b in budgets]
    cheapest = {}
    for c in constraints:
        low = cheapest[c.budget.metric] = cheapest_value(space, c)
        if not c.budget.feasible(low):
            raise InfeasibleBudgetError(
                f"no network of this space meets {c.budget.text}: the cheapest has {low:.6g} "
                f"(space preset {space.config.name!r}); give a limit of at least that",
                cheapest,
            )
    if len(constraints) > 1:
        from budgetnas.search import Problem

        problem = Problem(space, constraints, query=lambda _arch: 0.0)
        if not relaxation_feasible(problem):
            raise InfeasibleBudgetError(
                "no network of this space meets "
                + ", ".join(c.budget.text for c in constraints)
                + " at once, though each can be met alone; loosen one of them",
                cheapest,
            )
