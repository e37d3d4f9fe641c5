"""``budgetnas run``: the whole pipeline in one run directory, resumable stage by stage.

The stages (:mod:`budgetnas.pipeline.stages`), each reused when its output is already in the run
directory:

1. ``supernet/``: one-shot supernet training (resumed from its checkpoint when interrupted);
2. the latency table (only when a ``latency_ms`` budget is given), built into ``store.sqlite``;
3. the accuracy predictor (1 + 255 expectations cached in ``store.sqlite``), ``predictor.json``;
4. search (``milp`` by default) and the closed loop on the table's backend for latency budgets;
5. fine-tuning of the extracted network with KL distillation from the heaviest path
   (``finetuned-<key>.pt``), test accuracy;
6. export: ``model.pt`` (TorchScript, loads with ``torch.jit.load`` alone), ``model.onnx``
   (checked with onnxruntime), ``arch.txt`` and ``result.json``;
7. report: ``summary.md`` and ``plots/`` (:mod:`budgetnas.pipeline.report`).

The resolved configuration is written as ``config.toml`` once the supernet is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from budgetnas.files import write_text_atomic
from budgetnas.pipeline.config import CONFIG_FILE, PRESETS, RunConfig, run_config_toml
from budgetnas.pipeline.context import RunContext
from budgetnas.pipeline.directory import RunDirectory
from budgetnas.pipeline.result import RunResult

__all__ = ["PRESETS", "Pipeline", "RunConfig", "RunResult", "open_run", "run_pipeline"]


class Pipeline:
    """One run of the pipeline into ``out``: :meth:`run` does every stage; :meth:`open` reopens
    a finished run directory for other tools (benchmarks), training nothing."""

    def __init__(
        self,
        cfg: RunConfig,
        out: str | Path,
        log: Callable[[str], None] | None = None,
        preset: str | None = None,
        force: bool = False,
    ):
        self.cfg = cfg
        self.out = Path(out)
        self.log = log
        self.preset = preset
        self.force = force  # run into a non-empty folder that is not a run directory
        self.ctx: RunContext | None = None

    def run(self) -> RunResult:
        from budgetnas.pipeline.preflight import preflight
        from budgetnas.training.speed import use_threads

        cfg = self.cfg
        preflight(cfg)  # everything knowable before training: budgets, solver, data, cheapest
        use_threads(cfg.train.threads)
        with RunDirectory(self.out, self.force).claimed() as directory:
            return self._stages(directory)

    def _stages(self, directory: RunDirectory) -> RunResult:
        from budgetnas.pipeline.stages import (
            compare_latency,
            compare_stage,
            export_stage,
            finetune_stage,
            pareto_stage,
            predictor_stage,
            search_stage,
            supernet_stage,
            table_stage,
        )

        ctx = self.ctx = RunContext(self.cfg, self.out, self.log)
        trained = ctx.timed("supernet_s", lambda: supernet_stage(ctx))
        self.cfg = ctx.cfg  # a reused supernet's training settings
        # written once the run directory's supernet is accepted: a run refused because it asks
        # for other supernet settings leaves the directory's configuration as it was; results of
        # another configuration are moved aside first
        config = run_config_toml(ctx.cfg, self.preset)
        directory.retire_other_results(config, ctx.log)
        write_text_atomic(self.out / CONFIG_FILE, config)
        table = ctx.timed("table_s", lambda: table_stage(ctx))
        pred = ctx.timed("predictor_s", lambda: predictor_stage(ctx))
        loop = ctx.timed("search_s", lambda: search_stage(ctx, pred.form, table))
        arch = loop.result.arch
        latency = ctx.timed("compare_s", lambda: compare_latency(ctx, arch, table))
        child, accs = ctx.timed("finetune_s", lambda: finetune_stage(ctx, arch))
        export = ctx.timed("export_s", lambda: export_stage(ctx, child))
        front = ctx.timed("pareto_s", lambda: pareto_stage(ctx, pred.form, table))
        compared = ctx.timed("compare_s", lambda: compare_stage(ctx, child, accs, latency))
        result = RunResult(
            arch=str(arch),
            space_preset=trained.space.config.name,
            data=ctx.cfg.train.data,
            solver=ctx.cfg.search.solver,
            rerank=ctx.cfg.search.rerank,
            budgets=loop.budgets,
            closed_loop={"ok": loop.ok, "message": loop.message, "rounds": loop.rounds},
            predicted_accuracy=loop.result.predicted,
            predictor=pred.info(),
            export=export,
            wall_s=ctx.times,
            pareto=front,
            compare=compared,
            **accs,
        )
        write_text_atomic(self.out / "arch.txt", str(arch) + "\n")
        result.save(self.out / "result.json")
        self._report(result)
        return result

    def _report(self, result: RunResult) -> None:
        """summary.md and plots/ (:mod:`budgetnas.pipeline.report`); a failure there is logged,
        never raised: the network and result.json are already written."""
        from budgetnas.pipeline.report import write_report

        log = self.ctx.log if self.ctx is not None else self.log or RunContext.default_log
        try:
            write_report(self.out, result, log=log)
        except Exception as exc:  # the report must not fail a finished run
            log(f"summary.md not written: {type(exc).__name__}: {exc}")

    def open(self) -> Pipeline:
        """Reopen a finished run directory: store, trained supernet and evaluators. Trains
        nothing."""
        from budgetnas.training.trained import TrainedSupernet, supernet_checkpoint

        ckpt = self.out / "supernet" / "supernet.pt"
        if not ckpt.is_file():
            raise FileNotFoundError(
                f"{ckpt} is missing: run `budgetnas run --out {self.out}` first"
            )
        ctx = self.ctx = RunContext(self.cfg, self.out, self.log)
        t = self.cfg.train
        # the run's own data settings (those of the training for a run that trained it; a run
        # that reused a supernet trained elsewhere recorded them when it began)
        ctx.trained = TrainedSupernet.open(
            supernet_checkpoint(ckpt), device=t.device, precision=t.precision
        ).with_train(
            **{k: getattr(t, k) for k in ("data_dir", "subset", "batch_size", "bn_batches", "seed")}
        )
        if ctx.trained.train.data != t.data:
            raise ValueError(
                f"the supernet of {self.out} was trained on {ctx.trained.train.data!r}, the run "
                f"names {t.data!r}"
            )
        if ctx.trained.train.preset != t.preset:
            raise ValueError(
                f"the supernet of {self.out} is of space preset {ctx.trained.train.preset!r}, the "
                f"run's configuration names {t.preset!r}"
            )
        return self

    # ---- what other tools ask of an opened run ----------------------------------------------
    @property
    def trained(self):
        return self._opened().trained

    @property
    def store(self):
        return self._opened().store

    @property
    def supernet(self):
        return self.trained.net

    @property
    def space(self):
        return self.trained.space

    @property
    def evaluator(self):
        """The predictor's evaluator (its held-out batches and recalibration)."""
        from budgetnas.pipeline.stages.search import predictor_evaluator

        return predictor_evaluator(self._opened())

    def report_evaluator(self):
        """The evaluator scoring single subnets (the quality report's, re-ranking's)."""
        from budgetnas.pipeline.stages.search import report_evaluator

        return report_evaluator(self._opened())

    def finetune(self, arch, epochs=None, subset=None, evaluator=None):
        """Fine-tune ``arch`` as the run does (:func:`budgetnas.pipeline.stages.finetune.finetune`;
        ``subset``: training images)."""
        from budgetnas.pipeline.stages.finetune import finetune

        return finetune(self._opened(), arch, epochs, subset, evaluator)

    def _opened(self) -> RunContext:
        if self.ctx is None or self.ctx.trained is None:
            raise RuntimeError("the run is not open: call open() (or run()) first")
        return self.ctx


def open_run(
    run_dir: str | Path,
    log: Callable[[str], None] | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> Pipeline:
    """A finished run directory, opened with its own configuration (``config.toml``, or the
    ``run_config.json`` of earlier runs); ``device`` and ``precision`` replace the run's, for
    the evaluations and fine-tunings of whoever reopens it."""
    import dataclasses

    from budgetnas.pipeline.config import load_run_config

    cfg, preset = load_run_config(run_dir)
    runtime = {k: v for k, v in {"device": device, "precision": precision}.items() if v}
    if runtime:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **runtime))
    return Pipeline(cfg, run_dir, log=log, preset=preset).open()


def run_pipeline(
    cfg: RunConfig,
    out: str | Path,
    log: Callable[[str], None] | None = None,
    preset: str | None = None,
    force: bool = False,
) -> RunResult:
    """Run every stage into ``out`` (see :class:`Pipeline`; ``force``: into a non-empty folder
    that is not a run directory)."""
    return Pipeline(cfg, out, log, preset, force).run()
