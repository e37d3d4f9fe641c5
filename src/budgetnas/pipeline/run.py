"""``budgetnas run``: the whole pipeline in one run directory, resumable stage by stage.

The stages (:mod:`budgetnas.pipeline.stages`), each reused when its output is already in the run
directory:

1. ``supernet/``: one-shot supernet training (resumed from its checkpoint when interrupted);
2. the latency table (only when a ``latency_ms`` budget is given), built into ``store.sqlite``,
   and the imported table of every device a budget names (``latency_NAME_ms``), copied there;
3. the accuracy predictor (1 + 255 expectations cached in ``store.sqlite``), ``predictor.json``;
4. search (``milp`` by default) and the closed loop on the table's backend for latency budgets;
   for a device budget, a verification kit in ``verify/NAME/`` (``budgetnas verify`` folds its
   measurement back in);
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


def _say_how_the_data_was_split(cfg: RunConfig, log: Callable[[str], None]) -> None:
    """The dataset's notes (how a folder's test and held-out splits were made), in the log."""
    from budgetnas.data import data_options, dataset_info

    for note in dataset_info(cfg.train.data, **data_options(cfg.train)).notes:
        log(f"data: {note}")


def _with_data_preset(cfg: RunConfig, log: Callable[[str], None]) -> RunConfig:
    """``cfg`` with the space preset ``auto`` replaced by the one the data calls for, said in
    the log."""
    import dataclasses

    from budgetnas.training.supernet import resolve_space, with_resolved_preset

    train = with_resolved_preset(cfg.train)
    c = resolve_space(train).config
    kind = "grayscale" if c.in_channels == 1 else "RGB"
    log(
        f"space preset {train.preset} (chosen from the data: {c.image_size}x{c.image_size} "
        f"{kind}, {c.num_classes} classes; stem stride {c.stem_stride}, stage strides "
        f"{'-'.join(map(str, c.stage_strides))}, width x{c.width_mult:g})"
    )
    return dataclasses.replace(cfg, train=train)


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
        datasets: dict | None = None,
    ):
        self.cfg = cfg
        self.out = Path(out)
        self.log = log
        self.preset = preset
        self.force = force  # run into a non-empty folder that is not a run directory
        self.datasets = datasets  # torch Datasets to train on (written to OUT/data first)
        self.ctx: RunContext | None = None

    def run(self) -> RunResult | None:
        """Every stage; under ``torchrun`` on a rank other than 0, only the supernet's training
        (:func:`~budgetnas.pipeline.stages.supernet.follow_training`), and ``None``."""
        from budgetnas.distributed import World

        world = World.from_env()
        if world.distributed:
            world.start(world.device(self.cfg.train.device))
            if not world.main:
                from budgetnas.pipeline.stages.supernet import follow_training

                return follow_training(world)
        if self.datasets is not None:
            return self._run_on_datasets()
        self._prepare()
        with RunDirectory(self.out, self.force).claimed() as directory:
            return self._stages(directory)

    def _prepare(self) -> None:
        """Everything knowable before training (budgets, solver, data, cheapest network), the
        space preset chosen from the data, the threads."""
        from budgetnas.pipeline.preflight import preflight
        from budgetnas.training.speed import use_threads

        cfg = self.cfg
        log = self.log or RunContext.default_log
        preflight(cfg, self.out)
        if cfg.supernet is None:
            _say_how_the_data_was_split(cfg, log)
            if cfg.train.preset == "auto":
                self.cfg = cfg = _with_data_preset(cfg, log)
        use_threads(cfg.train.threads)

    def _run_on_datasets(self) -> RunResult:
        """A run on the torch Datasets of ``datasets``: they are written once into ``OUT/data``
        (uint8 arrays, :func:`budgetnas.data.write_arrays`), which the run then names as its data
        (``arrays:OUT/data``), so that worker processes and later runs open the same images."""
        import dataclasses

        from budgetnas.data import write_arrays
        from budgetnas.pipeline.search import resolve_budgets

        resolve_budgets(self.cfg.budgets)  # a mistyped budget fails before the data is written
        log = self.log or RunContext.default_log
        with RunDirectory(self.out, self.force).claimed() as directory:
            log(f"writing the datasets to {self.out / 'data'} (uint8 arrays)")
            name = write_arrays(out_dir=self.out / "data", **self.datasets)
            train = dataclasses.replace(self.cfg.train, data=name, data_dir=None)
            self.cfg = dataclasses.replace(self.cfg, train=train)
            self._prepare()
            return self._stages(directory)

    def _stages(self, directory: RunDirectory) -> RunResult:
        from budgetnas.pipeline.devices import device_stage, devices_result, verify_kit_stage
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
        from budgetnas.pipeline.stages.export import dataset_record

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
        devices = ctx.timed("devices_s", lambda: device_stage(ctx))
        pred = ctx.timed("predictor_s", lambda: predictor_stage(ctx))
        loop = ctx.timed("search_s", lambda: search_stage(ctx, pred.form, table, devices))
        arch = loop.result.arch
        kits = ctx.timed("verify_kit_s", lambda: verify_kit_stage(ctx, arch, devices))
        latency = ctx.timed("compare_s", lambda: compare_latency(ctx, arch, table))
        child, accs = ctx.timed("finetune_s", lambda: finetune_stage(ctx, arch))
        data = trained.dataset_info()
        export = ctx.timed("export_s", lambda: export_stage(ctx, child, data))
        front = ctx.timed("pareto_s", lambda: pareto_stage(ctx, pred.form, table, devices))
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
            dataset=dataset_record(data),
            devices=devices_result(ctx, arch, devices, kits),
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
    *,
    train=None,
    test=None,
    val=None,
    classes=None,
    image_size: int | None = None,
) -> RunResult | None:
    """Run every stage into ``out`` (see :class:`Pipeline`; ``force``: into a non-empty folder
    that is not a run directory). Under ``torchrun``, ranks other than 0 train the supernet with
    rank 0 and return ``None``.

    ``train`` (and optionally ``test``, ``val``) are map-style torch Datasets of ``(image,
    label)`` to run on instead of ``cfg.train.data``: PIL images, uint8 arrays or tensors, or
    float tensors in [0, 1]; ``classes`` names the labels 0..K-1; ``image_size`` sets the side of
    the square images (default: the most common). Without ``test`` a fixed 10% of every class
    is held out as the test split, without ``val`` the search's held-out split comes from the
    rest of ``train``; ``result.dataset["notes"]`` says which.

    For example, with the user's own loading code::

        cfg = RunConfig.from_preset("quick", budgets=["latency_ms<=5", "params_m<=0.5"])
        result = run_pipeline(cfg, "runs/pets", train=my_train_set, test=my_test_set,
                              classes=["cat", "dog"])
    """
    datasets = None
    if train is not None:
        datasets = {"train": train, "test": test, "val": val, "classes": classes}
        datasets["image_size"] = image_size
    elif any(x is not None for x in (test, val, classes, image_size)):
        raise ValueError("test, val, classes and image_size describe train: pass train too")
    return Pipeline(cfg, out, log, preset, force, datasets).run()
