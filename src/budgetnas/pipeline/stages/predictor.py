"""Stage 3: the accuracy predictor of the run's supernet, saved as ``predictor.json``."""

from __future__ import annotations

__all__ = ["PREDICTOR_FILE", "predictor_stage"]

PREDICTOR_FILE = "predictor.json"


def predictor_stage(ctx):
    """Fit the predictor (:func:`budgetnas.predictors.fit.fit_predictor`; every supernet
    evaluation is cached in the run's store, so a rerun measures only what is missing) and write
    ``predictor.json``. Returns the :class:`~budgetnas.predictors.fit.PredictorResult`."""
    from budgetnas.pipeline.stages.search import EVALUATOR
    from budgetnas.predictors.fit import fit_predictor

    cfg = ctx.cfg
    result = fit_predictor(
        ctx.supernet(), cfg.predictor, ctx.store, seed=cfg.train.seed, log=ctx.log
    )
    result.save(ctx.out / PREDICTOR_FILE)
    # the later stages score on the same held-out batches: the fit's evaluator, not a second one
    ctx.once(EVALUATOR, lambda: result.evaluator)
    return result
