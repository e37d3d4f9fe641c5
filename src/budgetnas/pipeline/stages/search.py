"""Stage 4: search under every budget and the closed loop on this machine's latency."""

from __future__ import annotations

__all__ = ["EVALUATOR", "predictor_evaluator", "report_evaluator", "search_stage"]

#: the run context's key of the predictor's evaluator (the predictor stage leaves its own there)
EVALUATOR = "evaluator"


def search_stage(ctx, form, table=None, devices=None):
    """Search ``form`` (the predictor) under the run's budgets; a latency budget is measured on
    the table's backend after each round and tightened when a measurement breaks it
    (:func:`budgetnas.pipeline.search.closed_loop`). A device budget (``devices``: metric ->
    :class:`~budgetnas.pipeline.devices.RunDevice`) is searched with the device's table and
    counts as measured only where ``budgetnas verify`` recorded the device's measurement of the
    network; each recorded measurement adds a round. Returns the loop's result."""
    from budgetnas.pipeline.devices import recorded_measurements, recorded_measurer
    from budgetnas.pipeline.search import closed_loop, latency_measurer

    cfg = ctx.cfg
    trained = ctx.supernet()
    measurers, where, tables = {}, {}, {}
    if table is not None:
        measurers["latency_ms"] = latency_measurer(
            trained.net, table.fingerprint, repeats=cfg.search.lut_repeats, stat=table.stat
        )
        where["latency_ms"] = f"this machine ({table.fingerprint.get('backend', 'torch-cpu')})"
        tables["latency_ms"] = table
    extra_rounds = 0
    for metric, device in (devices or {}).items():
        tables[metric] = device.table
        measurers[metric] = recorded_measurer(ctx.store, device)
        where[metric] = device.where()
        extra_rounds += len(recorded_measurements(ctx.store, device.name))
    loop = closed_loop(
        trained.space,
        form,
        cfg.budgets,
        solver=cfg.search.solver,
        solver_kwargs=_solver_kwargs(ctx),
        measurers=measurers,
        max_rounds=cfg.search.max_rounds + extra_rounds,
        chooser=_chooser(ctx, form),
        where=where,
        tables=tables,
    )
    ctx.log(f"found {loop.result.arch} ({loop.message})")
    return loop


def predictor_evaluator(ctx):
    """The evaluator of the predictor's held-out batches (built once per run)."""
    return _evaluator(ctx, EVALUATOR, lambda t, p, kw: t.evaluator(p.heldout, p.batch, **kw))


def report_evaluator(ctx):
    """The evaluator scoring single subnets (quality report, re-ranking), built once."""
    return _evaluator(
        ctx, "report", lambda t, p, kw: t.report_evaluator(p.subnet_heldout or p.heldout, **kw)
    )


def _evaluator(ctx, key: str, build):
    """``build(trained, predictor settings, evaluator settings)`` once per run."""
    p = ctx.cfg.predictor
    kw = {"passes": p.passes, "seed": ctx.cfg.train.seed, "sampling": p.sampling}
    return ctx.once(key, lambda: build(ctx.supernet(), p, kw))


def _chooser(ctx, form):
    """With ``rerank`` K > 1, each round takes the predictor's K best networks under the
    budgets (``milp``) and keeps the best by one-shot accuracy on the report's held-out images
    (stored like the report's subnets); None: the solver's answer as it is."""
    k = ctx.cfg.search.rerank
    if k <= 1:
        return None
    from budgetnas.pipeline.rerank import reranker
    from budgetnas.predictors.quality import one_shot_scorer

    score = one_shot_scorer(report_evaluator(ctx), ctx.store)
    return reranker(ctx.supernet().space, form, k, score, log=ctx.log)


def _solver_kwargs(ctx) -> dict | None:
    """``hardcore`` searches on the supernet itself, with the held-out batches as validation
    data; the other solvers need only the predictor form."""
    cfg = ctx.cfg
    if cfg.search.solver != "hardcore":
        return None
    return {
        "supernet": ctx.supernet().net,
        "batches": predictor_evaluator(ctx).eval_batches,
        "steps": cfg.search.hardcore_steps,
        "seed": cfg.train.seed,
    }
