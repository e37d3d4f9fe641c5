"""Stage 2: the latency table of this machine, when a ``latency_ms`` budget is given (on the
run's ``lut_backend``)."""

from __future__ import annotations

__all__ = ["table_stage"]


def table_stage(ctx):
    """Build (or reuse from the run's store) the table of the space's blocks on this machine;
    None when no budget needs it."""
    from budgetnas.costs.measure import build_table
    from budgetnas.units import parse_budgets

    metrics = {b.metric for b in parse_budgets(ctx.cfg.budgets)}
    if "latency_ms" not in metrics:
        return None
    ctx.log("building (or reusing) the latency table")
    cfg = ctx.cfg
    return build_table(
        ctx.supernet().space,
        ctx.store,
        backend=cfg.search.lut_backend,
        threads=cfg.search.lut_threads,
        repeats=cfg.search.lut_repeats,
    )
