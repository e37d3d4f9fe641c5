"""Every cost by name: a budget such as ``latency_ms<=2.0`` or ``peak_kb<=300`` resolves to a model.

:func:`resolve_cost` maps a metric (canonical or with another unit of its family, e.g.
``latency_us``) to a :class:`~budgetnas.costs._base.CostModel` for a space; :func:`constraint`
does the same for a budget string and binds the limit (the peak-memory form needs it).
Context keywords pass through to the factory:

* ``params_m``, ``macs_m``, ``flops_m``: analytic counts (:class:`~budgetnas.costs.counting.CountCost`);
* ``peak_kb``: ``limit`` (kB), ``batch`` (:class:`~budgetnas.costs.counting.PeakMemoryCost`);
* ``latency_ms``, ``energy_mj``: ``table`` (a :class:`~budgetnas.costs.table.CostTable` or a JSON
  path), or ``store`` (a path or :class:`~budgetnas.store.Store`) with ``backend``, ``threads``,
  ``batch``, ``clock``, ``force``, ``table_id``; and ``stat``, ``corrected``;
* ``latency_NAME_ms``: the table of device NAME (:mod:`budgetnas.costs.device_tables`), from
  ``devices`` (a store path or :class:`~budgetnas.store.Store` holding it, ``budgetnas lut
  import --name NAME``); ``stat``.

Every table-based model also takes ``tables``, a dict from metric to a ready
:class:`~budgetnas.costs.table.CostTable`, which wins over the other sources (a run passes the
tables it already holds, one per latency metric).

Example:
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> space = MobileNetSpace(preset="tiny")
    >>> resolve_cost("params_m", space).metric
    'params_m'
    >>> constraint("peak_kb<=40", space).cost.limit
    40.0
"""

from __future__ import annotations

from budgetnas.costs._base import Constraint, CostModel
from budgetnas.registry import Registry
from budgetnas.units import Budget, BudgetError, parse_budget, split_metric, to_canonical

COSTS: Registry[CostModel] = Registry("cost", modules=[])
register_cost = COSTS.register


def _mobilenet(space, metric: str):
    from budgetnas.spaces.mobilenet import MobileNetSpace

    if not isinstance(space, MobileNetSpace):
        raise ValueError(
            f"no {metric} model for space {getattr(space, 'name', space)!r}: analytic counts and "
            "block tables exist for the mobilenet space (tabular spaces use their table columns)"
        )
    return space


def _counts(metric: str):
    def factory(space, **_ctx) -> CostModel:
        from budgetnas.costs.counting import CountCost

        return CountCost(_mobilenet(space, metric), metric)

    return factory


for _m in ("params_m", "macs_m", "flops_m"):
    register_cost(_m)(_counts(_m))


@register_cost("peak_kb")
def _peak(space, limit: float | None = None, batch: int = 1, **_ctx) -> CostModel:
    from budgetnas.costs.counting import PeakMemoryCost

    return PeakMemoryCost(_mobilenet(space, "peak_kb"), limit=limit, batch=batch)


def _table_cost(metric: str):
    def factory(
        space,
        table=None,
        store=None,
        backend: str = "torch-cpu",
        threads: int = 1,
        batch: int = 1,
        clock: str = "auto",
        force: bool = False,
        table_id: str | None = None,
        stat: str | None = None,
        corrected: bool = False,
        **_ctx,
    ) -> CostModel:
        from budgetnas.costs.table import CostTable, load_table
        from budgetnas.store import Store

        space = _mobilenet(space, metric)
        table = (_ctx.get("tables") or {}).get(metric, table)
        if table is not None:
            table = table if isinstance(table, CostTable) else CostTable.from_json(table)
            table.check_space(space)
        elif store is not None:
            store = store if isinstance(store, Store) else Store(store)
            table = load_table(
                store, space, backend, threads, batch, metric, force, table_id, clock
            )
        else:
            raise ValueError(
                f"{metric} needs a measured table: resolve_cost takes table=PATH (a JSON table, "
                "`budgetnas lut export`) or store=PATH (a store holding one, `budgetnas lut "
                "build` or `lut import`); `budgetnas run` builds only this machine's latency_ms "
                "table"
            )
        if table.metric != metric:
            raise ValueError(f"the table holds {table.metric}, not {metric}")
        if stat is not None:
            table = table.with_stat(stat)
        return table.cost_model(space, corrected=corrected)

    return factory


register_cost("latency_ms")(_table_cost("latency_ms"))
register_cost("energy_mj")(_table_cost("energy_mj"))


def device_cost(
    metric: str, space, tables=None, devices=None, stat: str | None = None, **_ctx
) -> CostModel:
    """The cost model of ``latency_NAME_ms``: device NAME's table (module doc)."""
    from budgetnas.costs.device_tables import device_of_metric, device_table
    from budgetnas.store import Store

    name = device_of_metric(metric)
    space = _mobilenet(space, metric)
    table = (tables or {}).get(metric)
    if table is None:
        if devices is None:
            raise ValueError(
                f"{metric} is the latency of device {name!r}: give the store that holds its table "
                "(devices=PATH; `budgetnas lut import table.json --name "
                f"{name}` writes it)"
            )
        devices = devices if isinstance(devices, Store) else Store(devices)
        table = device_table(devices, name, space)[0]
    else:
        table.check_space(space)
    if stat is not None:
        table = table.with_stat(stat)
    return table.cost_model(space)


def canonical_metric(metric: str) -> str:
    """``latency_us`` -> ``latency_ms``; ratios and unknown names raise ``ValueError``."""
    quantity, family, unit = split_metric(metric)
    if family == "ratio":
        raise BudgetError(
            f"{metric}: relative budgets need a reference network; give an absolute one"
        )
    return to_canonical(quantity, unit, 1.0)[0]


def list_costs() -> list[str]:
    return COSTS.names()


def resolve_cost(metric: str | Budget, space, **ctx) -> CostModel:
    """The cost model of ``metric`` on ``space`` (context keywords as in the module docstring)."""
    name = canonical_metric(metric.metric if isinstance(metric, Budget) else metric)
    from budgetnas.costs.device_tables import device_of_metric

    if name not in COSTS and device_of_metric(name) is not None:
        return device_cost(name, space, **ctx)
    if name not in COSTS:
        raise ValueError(f"no cost model named {name!r}; available: {', '.join(list_costs())}")
    return COSTS.create(name, space=space, **ctx)


def constraint(budget: str | Budget, space, **ctx) -> Constraint:
    """A :class:`Constraint` from a budget string such as ``"latency_ms<=2.0"``."""
    budget = parse_budget(budget) if isinstance(budget, str) else budget
    ctx.setdefault("limit", budget.limit)
    return Constraint(budget, resolve_cost(budget.metric, space, **ctx))


__all__ = [
    "COSTS",
    "canonical_metric",
    "constraint",
    "device_cost",
    "list_costs",
    "register_cost",
    "resolve_cost",
]
