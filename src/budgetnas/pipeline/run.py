"""``budgetnas run``: the whole pipeline in one run directory, resumable stage by stage.

Stages (each one reused when its output is already in the run directory):

1. ``supernet/``: one-shot supernet training (:class:`~budgetnas.training.SupernetTrainer`,
   resumed from its checkpoint when interrupted);
2. the latency table (only when a ``latency_ms`` budget is given), built into ``store.sqlite``;
3. the BINAS predictor (1 + 255 expectations cached in ``store.sqlite``), saved as
   ``predictor.json``;
4. search (``milp`` by default) and the closed loop on the table's backend for latency budgets;
5. fine-tuning of the extracted network with KL distillation from the heaviest path
   (``finetuned.pt``), test accuracy;
6. export: ``model.pt`` (TorchScript, loads with ``torch.jit.load`` alone), ``model.onnx``
   (checked with onnxruntime), ``arch.txt`` and ``result.json``;
7. report: ``summary.md`` and ``plots/`` (:mod:`budgetnas.pipeline.report`).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

PRESETS: dict[str, dict] = {
    # under 15 minutes on 2 CPU cores: small space, a data subset, 2 + 1 epochs
    "quick": {
        "space_preset": "fmnist-small",
        "subset": 6000,
        "epochs_a": 2,
        "epochs_b": 1,
        "predictor_subset": 500,
        "predictor_batch": 100,  # one random path per batch: 5 paths per expectation
        "bn_batches": 1,
        # the predictor's evaluations in 2 processes (the same values as in one, about twice as
        # fast on 2 cores); training and latency measurement stay on one thread
        "jobs": 2,
        "finetune_epochs": 1,
        "finetune_subset": 6000,
        "lut_repeats": 10,
    },
    # tests: the tiny space on synthetic data
    "tiny": {
        "space_preset": "tiny",
        "subset": 64,
        "epochs_a": 1,
        "epochs_b": 1,
        "max_steps": 2,
        "batch_size": 32,
        "predictor_subset": 32,
        "predictor_batch": 32,
        "bn_batches": 1,
        "finetune_epochs": 1,
        "finetune_subset": 64,
        "lut_repeats": 2,
        "oneshot_subnets": 0,
        "hardcore_steps": 6,
    },
}


@dataclass
class RunConfig:
    data: str = "fashion-mnist"
    preset: str = "quick"
    budgets: list[str] = field(default_factory=list)
    solver: str = "milp"
    hardcore_steps: int = 200  # Frank-Wolfe steps of the supernet-driven solver `hardcore`
    data_dir: str | None = None
    space_preset: str = "fmnist-small"
    subset: int | None = None
    epochs_a: int = 1
    epochs_b: int = 1
    batch_size: int = 128
    max_steps: int | None = None
    predictor_subset: int | None = 500
    predictor_batch: int = 250
    bn_batches: int = 2
    passes: int = 1
    predictor_sampling: str = "independent"  # or paired (common random paths)
    jobs: int = 1  # processes measuring the predictor's evaluations (one shard each)
    # the form searched: "paths" (least squares on every evaluated path, predictors.paths; it
    # ranked better on every Fashion-MNIST supernet measured, docs/bench/pipeline.md) or
    # "binas" (the averages of forced decisions), both from the same evaluations
    predictor_form: str = "paths"
    # re-rank the predictor's best K networks under the budgets by one-shot accuracy (milp only;
    # 1: the predictor's best, no re-ranking)
    rerank: int = 1
    finetune_epochs: int = 1
    finetune_subset: int | None = None
    finetune_lr: float = 0.01
    lut_repeats: int = 10
    max_rounds: int = 3
    oneshot_subnets: int = 0  # random subnets for the predictor quality report (0: skip)
    oneshot_heldout: int | None = None  # held-out images scoring each report subnet (None: as
    # the predictor's); more images, less noise in what the predictor is judged against
    supernet: str | None = None  # a trained supernet.pt (`budgetnas train`) to reuse
    seed: int = 0
    threads: int = 1

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> RunConfig:
        if preset not in PRESETS:
            raise ValueError(f"unknown run preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown run settings: {sorted(unknown)}")
        return cls(preset=preset, **values)


def _train_config(cfg: RunConfig):
    from budgetnas.training.config import TrainConfig

    return TrainConfig(
        data=cfg.data,
        preset=cfg.space_preset,
        data_dir=cfg.data_dir,
        subset=cfg.subset,
        epochs_a=cfg.epochs_a,
        epochs_b=cfg.epochs_b,
        batch_size=cfg.batch_size,
        bn_batches=cfg.bn_batches,
        eval_subset=cfg.predictor_subset,
        max_steps=cfg.max_steps,
        seed=cfg.seed,
        threads=cfg.threads,
    )


def _shard_setup(cfg: dict, out: str) -> tuple:
    """``(evaluator, subnet evaluator, store)`` of a run directory, in a worker process of
    ``jobs > 1`` (the supernet stage is done by then)."""
    import torch

    run_cfg = RunConfig(**cfg)
    torch.set_num_threads(run_cfg.threads)
    pipe = Pipeline(run_cfg, out, log=lambda msg: None).open()
    sub_ev = pipe._subnet_evaluator() if run_cfg.oneshot_subnets > 0 else None
    return pipe.evaluator, sub_ev, pipe.store


class Pipeline:
    def __init__(self, cfg: RunConfig, out: str | Path, log=None):
        self.cfg = cfg
        self.out = Path(out)
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.times: dict[str, float] = {}
        self._test = None  # test batches and the distillation teacher, built once when needed
        self._teacher = None
        self._recal = None  # recalibration batches, built once (evaluator_on)

    # ---- helpers --------------------------------------------------------------------------
    def _data(self, split: str, subset=None, augment=False):
        from budgetnas.data import get_dataset
        from budgetnas.training.supernet import _data_kwargs

        kw = _data_kwargs(self._train_cfg, self.space.config)
        return get_dataset(
            self.cfg.data,
            split,
            data_dir=self.cfg.data_dir,
            augment=augment,
            subset=subset,
            seed=self.cfg.seed,
            **kw,
        )

    def _batches(self, split, subset, batch, shuffle=False, seed=0):
        from budgetnas.data import make_loader

        return list(make_loader(self._data(split, subset), batch, shuffle=shuffle, seed=seed))

    def _timed(self, name, fn):
        t = time.perf_counter()
        value = fn()
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t
        return value

    # ---- stages ---------------------------------------------------------------------------
    def run(self) -> dict:
        import torch

        from budgetnas.pipeline.rerank import check_rerank
        from budgetnas.store import Store
        from budgetnas.units import parse_budgets

        cfg = self.cfg
        torch.set_num_threads(cfg.threads)
        parse_budgets(cfg.budgets)  # fail early on a malformed budget
        check_rerank(cfg.rerank, cfg.solver)
        self.out.mkdir(parents=True, exist_ok=True)
        self._train_cfg = _train_config(cfg)
        self.store = Store(self.out / "store.sqlite")
        supernet = self._timed("supernet_s", self._supernet)
        self.space = supernet.space
        self.supernet = supernet
        if cfg.supernet is not None:  # the space preset is the reused supernet's
            cfg.space_preset = self.space.config.name
        # written once the run directory's supernet is accepted: a run refused because it asks
        # for other supernet settings leaves the directory's configuration as it was
        (self.out / "run_config.json").write_text(json.dumps(asdict(cfg), indent=2))
        ctx = self._timed("table_s", self._table)
        predictor = self._timed("predictor_s", self._predictor)
        loop = self._timed("search_s", lambda: self._search(predictor.quadratic_form(), ctx))
        arch = loop.result.arch
        child, accs = self._timed("finetune_s", lambda: self._finetune(arch))
        export = self._timed("export_s", lambda: self._export(child))
        result = {
            "arch": str(arch),
            "space_preset": self.space.config.name,
            "data": cfg.data,
            "solver": cfg.solver,
            "rerank": cfg.rerank,
            "budgets": loop.budgets,
            "closed_loop": {"ok": loop.ok, "message": loop.message, "rounds": loop.rounds},
            "predicted_accuracy": loop.result.predicted,
            **accs,
            "predictor": self.predictor_info,
            "export": export,
            "wall_s": self.times,
        }
        (self.out / "arch.txt").write_text(str(arch) + "\n")
        (self.out / "result.json").write_text(json.dumps(result, indent=2, default=float))
        self._report(result)
        return result

    def _report(self, result: dict) -> None:
        """summary.md and plots/ (:mod:`budgetnas.pipeline.report`); a failure there is logged,
        never raised: the network and result.json are already written."""
        from budgetnas.pipeline.report import write_report

        try:
            write_report(self.out, result, log=self.log)
        except Exception as exc:  # the report must not fail a finished run
            self.log(f"summary.md not written: {type(exc).__name__}: {exc}")

    def open(self) -> Pipeline:
        """Reopen a finished run directory: store, trained supernet and held-out evaluator, so
        that other tools (``budgetnas bench baselines``) reuse them. Trains nothing."""
        from budgetnas.store import Store
        from budgetnas.training.supernet import CHECKPOINT

        ckpt = self.out / "supernet" / CHECKPOINT
        if not ckpt.is_file():
            raise FileNotFoundError(
                f"{ckpt} is missing: run `budgetnas run --out {self.out}` first"
            )
        self._train_cfg = _train_config(self.cfg)
        self.store = Store(self.out / "store.sqlite")
        self.supernet = self._supernet()
        self.space = self.supernet.space
        self.evaluator = self._evaluator()
        return self

    def _supernet(self):
        from budgetnas.training.supernet import CHECKPOINT, SupernetTrainer, load_supernet

        sdir = self.out / "supernet"
        ckpt = sdir / CHECKPOINT
        if self.cfg.supernet is not None:
            return self._reused_supernet(ckpt)
        if ckpt.is_file():
            net, state = load_supernet(ckpt)
            if state.get("train") != asdict(self._train_cfg):
                raise ValueError(
                    f"{ckpt} was trained with other settings than this run asks for; "
                    "use another --out directory (or delete the supernet/ folder to retrain)"
                )
            if "result" in state:
                self.log(f"reusing the trained supernet in {sdir}")
                return net.eval()
        trainer = SupernetTrainer(self._train_cfg, sdir, progress=False)
        self.log(f"training the supernet into {sdir}")
        trainer.run(resume=ckpt.is_file())
        net, _ = load_supernet(ckpt)
        return net.eval()

    def _reused_supernet(self, ckpt: Path):
        """Copy the trained supernet named by ``cfg.supernet`` into the run directory (once) and
        use its training settings for data and BatchNorm recalibration."""
        import shutil

        from budgetnas.training.config import TrainConfig
        from budgetnas.training.supernet import load_supernet

        src = Path(self.cfg.supernet)
        if not ckpt.is_file():
            if not src.is_file():
                raise FileNotFoundError(
                    f"--supernet {src} does not exist; train one with `budgetnas train --out DIR`"
                )
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, ckpt)
            self.log(f"reusing the supernet {src} (copied into {ckpt.parent})")
        net, state = load_supernet(ckpt)
        if "result" not in state:
            raise ValueError(
                f"{src} is not a finished training (no final result in the checkpoint); "
                f"finish it with `budgetnas train --resume --out {src.parent}`"
            )
        train = TrainConfig.from_dict(state["train"])
        if train.data != self.cfg.data:
            raise ValueError(
                f"{src} was trained on {train.data!r}, this run asks for {self.cfg.data!r}"
            )
        # the run's own recalibration and evaluation settings; the data settings of the training
        train.bn_batches = self.cfg.bn_batches
        train.data_dir = self.cfg.data_dir or train.data_dir
        self._train_cfg = train
        return net.eval()

    def _table(self) -> dict:
        from budgetnas.costs.lut import build_table
        from budgetnas.units import parse_budgets

        metrics = {b.metric for b in parse_budgets(self.cfg.budgets)}
        if "latency_ms" not in metrics:
            return {}
        self.log("building (or reusing) the latency table")
        table = build_table(
            self.space, self.store, threads=self.cfg.threads, repeats=self.cfg.lut_repeats
        )
        self.table = table
        return {"table": table}

    def _evaluator(self):
        return self.evaluator_on(self.cfg.predictor_subset)

    def evaluator_on(self, heldout: int | None, batch: int | None = None, bn_halves=False):
        """The supernet's evaluator on ``heldout`` held-out images (None: all of them) in batches
        of ``batch`` (the predictor's: one random path per batch), with the run's recalibration
        batches and settings (``bn_halves``: see ``SupernetEvaluator``)."""
        from budgetnas.predictors.supernet import SupernetEvaluator

        cfg = self.cfg
        if self._recal is None:  # the same recalibration batches for every evaluator
            self._recal = self._batches("search-train", cfg.subset, cfg.batch_size, True, cfg.seed)
        recal = self._recal
        held = self._batches("heldout", heldout, batch or cfg.predictor_batch)
        return SupernetEvaluator(
            self.supernet,
            recal,
            held,
            cfg.bn_batches,
            cfg.passes,
            seed=cfg.seed,
            sampling=cfg.predictor_sampling,
            bn_halves=bn_halves,
        )

    def _subnet_evaluator(self):
        """The evaluator scoring the quality-report subnets (``oneshot_heldout`` images, or the
        predictor's), with two recalibrations (``bn_halves``) so that the report's noise ceiling
        counts the recalibration's noise too (re-ranking scores its candidates so as well)."""
        from budgetnas.predictors.reliability import report_batch_size

        n = self.cfg.oneshot_heldout or self.cfg.predictor_subset
        if n is None:
            n = len(self._data("heldout"))
        # several batches, so that the report can split them into halves (target reliability)
        return self.evaluator_on(n, batch=report_batch_size(n), bn_halves=True)

    def _predictor(self):
        from budgetnas.predictors.paths import FORMS, paths_predictor
        from budgetnas.predictors.reliability import target_reliability
        from budgetnas.predictors.supernet import (
            BinasPredictor,
            quality_report,
            random_subnet_accuracies,
        )

        if self.cfg.predictor_form not in FORMS:
            raise ValueError(
                f"unknown predictor form {self.cfg.predictor_form!r}; choose {' or '.join(FORMS)}"
            )
        ev = self._evaluator()
        self.evaluator = ev
        # built (held-out batches loaded) only for a quality report
        sub_ev = self._subnet_evaluator() if self.cfg.oneshot_subnets > 0 else None
        if self.cfg.jobs != 1:
            from functools import partial

            from budgetnas.predictors.parallel import measure_in_processes

            subnets = [(self.cfg.oneshot_subnets, 1)] if self.cfg.oneshot_subnets > 0 else []
            setup = partial(_shard_setup, asdict(self.cfg), str(self.out))
            local = (ev, sub_ev, self.store)
            measure_in_processes(setup, self.cfg.jobs, subnets, local=local, log=self.log)

        def progress(i, n):
            if i % 32 == 0 or i == n:
                self.log(f"predictor: {i}/{n} expectations")

        binas = BinasPredictor(store=self.store, progress=progress).fit(ev)
        fitted = {"binas": binas}
        try:  # the same evaluations, fitted jointly: no further supernet evaluation
            fitted["paths"] = paths_predictor(binas, self.store)
        except ValueError as exc:  # expectations stored before their paths were kept
            if self.cfg.predictor_form == "paths":
                raise ValueError(
                    f"predictor form 'paths': {exc}; or search the stored averages with "
                    "--predictor-form binas"
                ) from exc
        pred = fitted[self.cfg.predictor_form]
        info = {
            "A0": binas.intercept_,
            "form": self.cfg.predictor_form,
            "measured_now": binas.n_measured_,
            "fingerprint": binas.fingerprint_,
            "interpretation": pred.interpretation(),
        }
        if "paths" in fitted:  # the ridge penalty its cross-validation chose, in held-out images
            info["paths_alpha"] = fitted["paths"].alpha_
        if self.cfg.oneshot_subnets > 0:

            def subnet_progress(i, n):
                if i % 10 == 0 or i == n:
                    self.log(f"predictor quality: {i}/{n} random subnets")

            archs, accs = random_subnet_accuracies(
                sub_ev, self.cfg.oneshot_subnets, store=self.store, progress=subnet_progress
            )
            predicted = pred.predict_archs(archs)
            info["quality"] = quality_report(predicted, accs)
            info["quality_points"] = {"predicted": predicted.tolist(), "oneshot": accs.tolist()}
            info["quality_by_form"] = {
                name: quality_report(p.predict_archs(archs), accs) for name, p in fitted.items()
            }
            info["target_reliability"] = target_reliability(sub_ev, archs, self.store)
        form = pred.quadratic_form()
        (self.out / "predictor.json").write_text(
            json.dumps(
                {
                    **info,
                    "const": form.const,
                    "linear": form.linear.tolist(),
                    "pair_i": form.pair_i.tolist(),
                    "pair_j": form.pair_j.tolist(),
                    "pair_w": form.pair_w.tolist(),
                },
                default=float,
            )
        )
        self.predictor_info = info
        return pred

    def _search(self, form, ctx):
        from budgetnas.pipeline.search import closed_loop, latency_measurer

        measurers = {}
        if "table" in ctx:
            measurers["latency_ms"] = latency_measurer(
                self.supernet,
                ctx["table"].fingerprint,
                repeats=self.cfg.lut_repeats,
                stat=ctx["table"].stat,
            )
        loop = closed_loop(
            self.space,
            form,
            self.cfg.budgets,
            solver=self.cfg.solver,
            solver_kwargs=self._solver_kwargs(),
            measurers=measurers,
            max_rounds=self.cfg.max_rounds,
            chooser=self._chooser(form),
            **ctx,
        )
        self.log(f"found {loop.result.arch} ({loop.message})")
        return loop

    def _chooser(self, form):
        """With ``rerank`` K > 1, each round takes the predictor's K best networks under the
        budgets (``milp``) and keeps the best by one-shot accuracy on the report's held-out
        images (stored like the report's subnets); None: the solver's answer as it is."""
        if self.cfg.rerank <= 1:
            return None
        from budgetnas.pipeline.rerank import reranker
        from budgetnas.predictors.supernet import one_shot_scorer

        score = one_shot_scorer(self._subnet_evaluator(), self.store)
        return reranker(self.space, form, self.cfg.rerank, score, log=self.log)

    def _solver_kwargs(self) -> dict | None:
        """``hardcore`` searches on the supernet itself, with the held-out batches as validation
        data; the other solvers need only the predictor form."""
        if self.cfg.solver != "hardcore":
            return None
        return {
            "supernet": self.supernet,
            "batches": self.evaluator.eval_batches,
            "steps": self.cfg.hardcore_steps,
            "seed": self.cfg.seed,
        }

    def _finetune(self, arch):
        """:meth:`finetune` with the run's settings, cached in ``finetuned-<key>.pt``."""
        import torch

        from budgetnas.supernet import extract

        key = hashlib.sha256(f"{arch}/{asdict(self.cfg)}".encode()).hexdigest()[:12]
        path = self.out / f"finetuned-{key}.pt"
        if path.is_file():
            self.log(f"reusing the fine-tuned network {path.name}")
            saved = torch.load(path, map_location="cpu", weights_only=False)
            child = extract(self.supernet, arch)
            child.load_state_dict(saved["model"])
            return child.eval(), saved["accs"]
        child, accs = self.finetune(arch)
        torch.save({"model": child.state_dict(), "accs": accs}, path)
        return child, accs

    def finetune(self, arch, epochs=None, subset=None, evaluator=None):
        """Extract ``arch``, fine-tune it with KL distillation from the heaviest path and measure
        it: ``(network, {oneshot_heldout_acc, finetuned_heldout_acc, test_acc})``.

        ``epochs`` and ``subset`` (training images) default to the run's fine-tuning settings;
        ``evaluator`` (recalibration and held-out batches) to the run's.
        """
        from budgetnas.supernet import extract
        from budgetnas.training.evaluate import accuracy, one_shot_accuracy
        from budgetnas.training.finetune import distill_finetune, heaviest_teacher

        cfg = self.cfg
        net = self.supernet
        ev = self.evaluator if evaluator is None else evaluator
        epochs = cfg.finetune_epochs if epochs is None else epochs
        subset = cfg.finetune_subset if subset is None else subset
        if self._test is None:
            self._test = self._batches("test", None, cfg.predictor_batch)
        oneshot = one_shot_accuracy(net, arch, ev.recal_batches, ev.eval_batches, cfg.bn_batches)
        child = extract(net, arch).eval()
        if self._teacher is None:
            self._teacher = heaviest_teacher(net, self.evaluator.recal_batches, cfg.bn_batches)
        train = self._data("search-train", subset, augment=True)
        distill_finetune(
            child,
            self._teacher,
            train,
            epochs,
            cfg.batch_size,
            cfg.finetune_lr,
            seed=cfg.seed,
            max_steps=cfg.max_steps,
        )
        accs = {
            "oneshot_heldout_acc": oneshot,
            "finetuned_heldout_acc": accuracy(child, ev.eval_batches),
            "test_acc": accuracy(child, self._test),
        }
        return child, accs

    def _export(self, child) -> dict:
        import torch

        from budgetnas.export.onnx import export_onnx

        c = self.space.config
        example = torch.randn(2, c.in_channels, c.image_size, c.image_size)
        child = child.eval()
        with torch.no_grad():
            traced = torch.jit.trace(child, example, check_trace=False)
        traced.save(str(self.out / "model.pt"))
        reloaded = torch.jit.load(str(self.out / "model.pt"))
        with torch.no_grad():
            diff_pt = float((reloaded(example) - child(example)).abs().max())
        onnx = export_onnx(child, example, self.out / "model.onnx")
        return {"torchscript_max_abs_diff": diff_pt, **onnx, "input_shape": list(example.shape)}


def run_pipeline(cfg: RunConfig, out: str | Path, log=None) -> dict:
    return Pipeline(cfg, out, log).run()


__all__ = ["PRESETS", "Pipeline", "RunConfig", "run_pipeline"]
