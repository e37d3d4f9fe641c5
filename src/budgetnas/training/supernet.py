"""One-shot training of the MobileNetV3 supernet (docs/methods/supernet.md).

Stage A trains the heaviest path (or is taken from another run: ``stage_a_from``). Stage B sorts
channels by importance, starts the weights the heaviest path never used (3x3 kernels, the other
(e, SE) BatchNorms) from those it trained (``inherit``), freezes a copy of the stage-A network as
teacher and trains paths drawn by the sandwich rule (heaviest, smallest and ``n_random`` uniform
paths each step) with inner distillation. A checkpoint is written after every
epoch (``supernet.pt``, written atomically) holding the weights, teacher, optimizer, schedule and
every RNG state, so ``resume=True`` continues exactly as if the run had not stopped.

Under ``torchrun`` (:mod:`budgetnas.distributed`) the training is data-parallel: every rank draws
the same global batch and trains on its rows of it, and every rank draws the same paths from the
same generator, so after a step's backward passes every rank holds gradients for the same
parameters; one all-reduce averages them (:meth:`~budgetnas.distributed.World.average_gradients`)
before the optimizer step. That replaces ``DistributedDataParallel``, which would have to search
the graph for the parameters a path leaves unused (``find_unused_parameters``) and would reduce
once per path instead of once per step. Batch norm uses each rank's statistics in training; the
stage-B teacher and every checkpoint hold rank 0's. Rank 0 alone evaluates, logs and writes;
the checkpoint belongs to the global batch, so a training resumes with any number of processes.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from budgetnas.data import data_options, dataset_info, get_dataset, make_loader
from budgetnas.devices import Runtime, backward, state_on_cpu, step
from budgetnas.distributed import Sharded, World
from budgetnas.models.checkpoint import save_atomic
from budgetnas.spaces.mobilenet import MobileNetConfig, MobileNetSpace, get_preset, preset_for
from budgetnas.supernet import MobileNetSupernet
from budgetnas.training.config import TrainConfig
from budgetnas.training.distill import inner_distillation_loss
from budgetnas.training.evaluate import accuracy, one_shot_accuracy
from budgetnas.training.speed import fast_layout, use_threads

CHECKPOINT = "supernet.pt"
CONFIG = "config.json"
LOG = "log.jsonl"
FORMAT = 1


def data_kwargs(cfg: TrainConfig, space_cfg: MobileNetConfig | None) -> dict:
    """Dataset options of ``cfg``: the synthetic set shaped like the network's input (an
    ``image_size`` set in ``cfg`` wins; ``space_cfg=None``: the synthetic set's own default
    shape), the ``image_size`` and ``strict`` of folder data
    (:func:`budgetnas.data.data_options`)."""
    options = data_options(cfg)
    if cfg.data == "synthetic" and space_cfg is not None:  # shape it like the network's input
        return {
            "channels": space_cfg.in_channels,
            "image_size": space_cfg.image_size,
            "num_classes": space_cfg.num_classes,
            **options,
        }
    return options


def resolve_preset(cfg: TrainConfig) -> str:
    """The space preset of ``cfg``: its ``preset``, or for ``"auto"`` the one the data's shape
    calls for (:func:`~budgetnas.spaces.mobilenet.preset_for`: resolution, channels, classes)."""
    if cfg.preset != "auto":
        return cfg.preset
    info = dataset_info(cfg.data, **data_kwargs(cfg, None))
    return preset_for(info.image_size, info.channels, info.num_classes).name


def with_resolved_preset(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``preset="auto"`` replaced by the preset it resolves to (what is saved)."""
    return cfg if cfg.preset != "auto" else replace(cfg, preset=resolve_preset(cfg))


def resolve_space(cfg: TrainConfig) -> MobileNetSpace:
    """The space of ``cfg.preset`` (``"auto"``: chosen from the data), checked against the
    dataset's shape."""
    preset = resolve_preset(cfg)
    space_cfg = get_preset(preset)
    info = dataset_info(cfg.data, **data_kwargs(cfg, space_cfg))
    if (info.channels, info.image_size, info.num_classes) != (
        space_cfg.in_channels,
        space_cfg.image_size,
        space_cfg.num_classes,
    ):
        fits = preset_for(info.image_size, info.channels, info.num_classes).name
        raise ValueError(
            f"preset {preset!r} expects {space_cfg.in_channels}x{space_cfg.image_size}"
            f"x{space_cfg.image_size} inputs and {space_cfg.num_classes} classes, but {cfg.data!r} "
            f"has {info.channels}x{info.image_size}x{info.image_size} and {info.num_classes}; "
            f"--space-preset auto chooses {fits!r} for this data"
        )
    return MobileNetSpace(space_cfg)


def read_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """The dict of a supernet checkpoint written by :class:`SupernetTrainer`, checked."""
    from budgetnas.safeio import load_weights

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no supernet checkpoint at {path}")
    what = f"budgetnas supernet checkpoint (format {FORMAT})"
    remedy = "delete it and train the supernet again (budgetnas train, or rerun budgetnas run)"
    ckpt = load_weights(path, what, remedy, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {what}")
    return ckpt


def load_supernet(path: str | Path, map_location: str = "cpu") -> tuple[MobileNetSupernet, dict]:
    """The supernet stored in a checkpoint, and the checkpoint dict."""
    ckpt = read_checkpoint(path, map_location)
    space = MobileNetSpace(MobileNetConfig.from_dict(ckpt["space"]))
    net = MobileNetSupernet(space)
    net.load_state_dict(ckpt["model"])
    return net, ckpt


def supernet_optimizer(params, cfg: TrainConfig, lr: float, total_steps: int):
    """``(optimizer, scheduler)`` of supernet training: SGD with Nesterov momentum and ``cfg``'s
    weight decay (not on BatchNorm and biases), cosine over ``total_steps``."""
    from budgetnas.training.optim import sgd_cosine

    return sgd_cosine(
        params,
        lr,
        total_steps,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=True,
        no_decay_1d=True,
    )


def sandwich_paths(space: MobileNetSpace, rng, n_random: int, sandwich: bool = True) -> list:
    """The paths of one stage-B step: ``n_random`` uniform ones drawn from ``rng``, after the
    heaviest and the smallest when ``sandwich``."""
    rand = [space.sample(rng) for _ in range(n_random)]
    return [space.heaviest(), space.smallest(), *rand] if sandwich else rand


def stage_a_step(
    model, opt, x, y, runtime: Runtime | None = None, scaler=None, sync=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One stage-A step on the active path: cross-entropy, one optimizer step; ``(loss,
    logits)``. The forward pass runs under ``runtime``'s autocast (fp32 without one); ``scaler``
    (fp16 only: :meth:`Runtime.scaler`) scales the loss; ``sync()``, when given, runs between
    the backward pass and the step (the ranks' gradients averaged)."""
    with (runtime or Runtime(x.device)).autocast():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    backward(loss, scaler)
    if sync is not None:
        sync()
    step(opt, scaler)
    return loss, logits


def stage_b_step(
    model, teacher, opt, x, y, archs: list, gamma: float, runtime: Runtime | None = None,
    scaler=None, sync=None,
) -> list[float]:  # fmt: skip
    """One stage-B step: the frozen teacher's forward, then every path of ``archs`` forward and
    backward with the inner distillation loss (gradients averaged over the paths), then one
    optimizer step; returns each path's loss. Forward passes under ``runtime``'s autocast, the
    losses in fp32, ``scaler`` and ``sync`` as in :func:`stage_a_step` (``sync`` once, after
    the last path)."""
    rt = runtime or Runtime(x.device)
    with torch.no_grad(), rt.autocast():
        t_logits, t_stages = teacher(x, return_stages=True)
    t_logits, t_stages = t_logits.float(), [t.float() for t in t_stages]
    opt.zero_grad(set_to_none=True)
    losses = []
    for arch in archs:
        model.set_active(arch)
        with rt.autocast():
            s_logits, s_stages = model(x, return_stages=True)
        s_logits, s_stages = s_logits.float(), [t.float() for t in s_stages]
        loss = inner_distillation_loss(s_logits, s_stages, t_logits, t_stages, y, gamma=gamma)
        backward(loss / len(archs), scaler)
        losses.append(loss.detach())
    if sync is not None:
        sync()
    step(opt, scaler)
    return torch.stack(losses).tolist()  # one wait for the device per step, not per path


class SupernetTrainer:
    """Runs (or resumes) stage A then stage B into ``out_dir``.

    Example:
        >>> import tempfile
        >>> cfg = TrainConfig(data="synthetic", preset="tiny", epochs_a=1, epochs_b=1,
        ...                   batch_size=16, max_steps=1, bn_batches=1, eval_subset=16)
        >>> out = tempfile.mkdtemp()
        >>> result = SupernetTrainer(cfg, out, progress=False).run()
        >>> sorted(result)[:2], 0.0 <= result["test_acc_heaviest"] <= 1.0
        (['epochs', 'heldout_acc_heaviest'], True)
    """

    def __init__(self, cfg: TrainConfig, out_dir: str | os.PathLike, progress: bool = True):
        self.cfg = with_resolved_preset(cfg)  # the saved configuration names the preset used
        self.out = Path(out_dir)
        self.progress = progress
        self.space = resolve_space(self.cfg)
        self.world = World.from_env()  # under torchrun: one rank of a data-parallel training
        self.runtime = Runtime.resolve(self.world.device(cfg.device), cfg.precision)
        self.device = self.runtime.device
        if not self.world.main:
            self.progress = False

    # ---- data ---------------------------------------------------------------------------
    def _datasets(self) -> None:
        cfg, kw = self.cfg, data_kwargs(self.cfg, self.space.config)
        common = {"data_dir": cfg.data_dir, "seed": cfg.seed, **kw}
        self.train_ds = get_dataset(
            cfg.data, "search-train", augment=cfg.augment, subset=cfg.subset, **common
        )
        plain = get_dataset(cfg.data, "search-train", subset=cfg.subset, **common)
        self.recal_ds = plain  # BN statistics come from training images without augmentation
        self.heldout_ds = get_dataset(cfg.data, "heldout", subset=cfg.eval_subset, **common)
        self.train_b_ds = self.train_ds
        if cfg.subset_b is not None and cfg.subset_b < len(self.train_ds):
            self.train_b_ds = get_dataset(
                cfg.data, "search-train", augment=cfg.augment, subset=cfg.subset_b, **common
            )

    def _loader(self, ds, epoch_seed: int):
        """The training batches of an epoch: the same global batches on every rank, each cut to
        this rank's rows (all of them in one process)."""
        loader = make_loader(
            ds,
            self.cfg.batch_size,
            shuffle=True,
            seed=epoch_seed,
            num_workers=self.cfg.num_workers,
            device=self.device,
        )
        return Sharded(loader, self.world)

    def _recal_loader(self):
        return make_loader(
            self.recal_ds, self.cfg.batch_size, shuffle=True, seed=self.cfg.seed, device=self.device
        )

    def _eval_loader(self, ds):
        return make_loader(ds, self.cfg.eval_batch_size, shuffle=False, device=self.device)

    def _steps(self, ds) -> int:
        n = math.ceil(len(ds) / self.cfg.batch_size)
        return min(n, self.cfg.max_steps) if self.cfg.max_steps else n

    # ---- state --------------------------------------------------------------------------
    def _optimizer(self, lr: float, total_steps: int):
        return supernet_optimizer(self.model.parameters(), self.cfg, lr, total_steps)

    def _sync(self) -> None:
        """The ranks' gradients averaged (nothing in one process)."""
        self.world.average_gradients(self.model.parameters())

    def _save(self, stage: str, epoch: int, extra: dict | None = None) -> None:
        if not self.world.main:
            return
        state = {
            "format": FORMAT,
            "train": asdict(self.cfg),
            "space": self.space.config.to_dict(),
            "stage": stage,
            "epoch": epoch,
            "model": self.model.state_dict(),
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": self.path_rng.bit_generator.state,
                "python": random.getstate(),
            },
            "history": self.history,
            **(extra or {}),
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        # CPU tensors only: the checkpoint loads on any device
        save_atomic(state_on_cpu(state), self.out / CHECKPOINT)

    def _log(self, record: dict) -> None:
        self.history.append(record)
        if not self.world.main:
            return
        with open(self.out / LOG, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _write_config(self) -> None:
        if not self.world.main:
            return
        info = dataset_info(self.cfg.data, **data_kwargs(self.cfg, self.space.config))
        resolved = {
            "train": asdict(self.cfg),
            "space": self.space.config.to_dict(),
            "dataset": asdict(info),
            "torch": torch.__version__,
            "runtime": {"device": str(self.device), "precision": self.runtime.precision},
        }
        (self.out / CONFIG).write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")

    def _start_stage_b(self) -> None:
        """Freeze the stage-A network as teacher; sort channels by importance; new optimizer.
        Every rank starts from rank 0's network, batch-norm statistics included (what a resumed
        training would read from rank 0's checkpoint)."""
        self.world.broadcast_state(self.model)
        self.model.reorder_channels()
        if self.cfg.inherit:
            self.model.inherit_from_heaviest()
        self.teacher = copy.deepcopy(self.model).eval()
        self.teacher.set_active(self.space.heaviest())
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.opt, self.sched = self._optimizer(
            self.cfg.lr_b, self.cfg.epochs_b * self._steps(self.train_b_ds)
        )

    # ---- the run ------------------------------------------------------------------------
    def run(self, resume: bool = False, stop_after: int | None = None, fresh: bool = False) -> dict:
        """Train (or continue) to the end; ``stop_after=N`` returns after N epochs of this call,
        as an interrupted run would (its checkpoint is complete). A folder that already holds a
        training is refused unless ``resume`` (continue it) or ``fresh`` (its files are moved
        aside first: :func:`budgetnas.training.resume.check_out`)."""
        world = self.world
        world.start(self.device)
        try:
            return self._run(resume, stop_after, fresh)
        finally:
            world.stop()

    def _run(self, resume: bool, stop_after: int | None, fresh: bool) -> dict:
        from budgetnas.training.resume import check_out

        world = self.world
        if world.main:
            aside = check_out(self.out, resume, fresh)
            if aside is not None:
                print(f"moved the earlier training in {self.out} to {aside}", file=sys.stderr)
        world.barrier()  # the folder is checked (and cleared) before any rank reads it
        cfg = self.cfg
        self._budget = stop_after
        use_threads(cfg.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        self._datasets()
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.path_rng = np.random.default_rng(cfg.seed)
        self.model = MobileNetSupernet(self.space).to(self.device)
        if cfg.channels_last:
            fast_layout(self.model, self.device)
        self.teacher = None
        self.history: list[dict] = []
        self.opt, self.sched = self._optimizer(cfg.lr_a, cfg.epochs_a * self._steps(self.train_ds))
        self.scaler = self.runtime.scaler()
        stage, epoch = "A", 0
        ckpt_path = self.out / CHECKPOINT
        if resume and ckpt_path.is_file():
            stage, epoch = self._restore(ckpt_path)
        elif resume and world.main:
            print(f"no checkpoint in {self.out}; starting afresh", file=sys.stderr)
        world.broadcast_state(self.model)  # equal on every rank whatever each one built or read
        if not resume and world.main:
            (self.out / LOG).write_text("")
        self._write_config()
        t_start = time.time()
        if stage == "A":
            self.model.set_active(self.space.heaviest())
            if cfg.stage_a_from is not None:
                self._take_stage_a(Path(cfg.stage_a_from))
            for ep in range(epoch, cfg.epochs_a):
                if self._stop():
                    return {"stopped": True, "stage": "A", "epoch": ep}
                self._epoch_a(ep)
            stage, epoch = "B", 0
            if cfg.epochs_b > 0:
                self._start_stage_b()
        for ep in range(epoch, cfg.epochs_b):
            if self._stop():
                return {"stopped": True, "stage": "B", "epoch": ep}
            self._epoch_b(ep)
        return self._finish(time.time() - t_start)

    def _take_stage_a(self, path: Path) -> None:
        """Load the stage-A weights of another run's checkpoint (its teacher once it is in stage
        B) instead of training stage A; logged as stage A, epoch 0, with the source."""
        ckpt = read_checkpoint(path)
        if ckpt["space"] != self.space.config.to_dict():
            raise ValueError(
                f"{path} holds a supernet of another space ({ckpt['space'].get('name')!r}); "
                f"this run trains {self.space.config.name!r}"
            )
        source = TrainConfig.from_dict(ckpt["train"])
        trained_a = source.epochs_a > 0 or source.stage_a_from is not None
        if ckpt["stage"] == "B" and trained_a:
            state = ckpt["teacher"]
        elif ckpt["stage"] == "A" and trained_a and source.epochs_a <= ckpt["epoch"]:
            state = ckpt["model"]
        else:
            raise ValueError(
                f"{path} has no finished stage A (stage {ckpt['stage']}, epoch {ckpt['epoch']} "
                f"of {source.epochs_a})"
            )
        self.model.load_state_dict(state)
        self.model.eval()
        if not self.world.main:
            return
        held = accuracy(self.model, self._eval_loader(self.heldout_ds), runtime=self.runtime)
        self._log(
            {
                "stage": "A",
                "epoch": 0,
                "from": str(path),
                "source_epochs_a": source.epochs_a,
                "source_data": source.data,
                "heldout_acc_heaviest": held,
                "seconds": 0.0,
            }
        )

    def _stop(self) -> bool:
        if self._budget is None:
            return False
        if self._budget <= 0:
            return True
        self._budget -= 1
        return False

    def _restore(self, path: Path) -> tuple[str, int]:
        ckpt = read_checkpoint(path)  # CPU tensors, copied into the model on its device
        saved = TrainConfig.from_dict(ckpt["train"])
        if not saved.same_training(self.cfg):
            diff = {
                k: (v, getattr(self.cfg, k))
                for k, v in asdict(saved).items()
                if v != getattr(self.cfg, k)
            }
            raise ValueError(f"cannot resume {path}: settings differ (saved, now): {diff}")
        self.model.load_state_dict(ckpt["model"])
        stage, epoch = ckpt["stage"], ckpt["epoch"]
        if stage == "B":
            self.teacher = MobileNetSupernet(self.space).to(self.device)
            if self.cfg.channels_last:
                fast_layout(self.teacher, self.device)
            self.teacher.load_state_dict(ckpt["teacher"])
            self.teacher.eval().set_active(self.space.heaviest())
            for p in self.teacher.parameters():
                p.requires_grad_(False)
            self.opt, self.sched = self._optimizer(
                self.cfg.lr_b, self.cfg.epochs_b * self._steps(self.train_b_ds)
            )
        self.opt.load_state_dict(ckpt["optimizer"])  # its state moves to the parameters' device
        self.sched.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler") is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.path_rng.bit_generator.state = ckpt["rng"]["numpy"]
        random.setstate(ckpt["rng"]["python"])
        self.history = list(ckpt["history"])
        # the log holds exactly the epochs the checkpoint has seen
        if self.world.main:
            (self.out / LOG).write_text("".join(json.dumps(r) + "\n" for r in self.history))
        if stage == "A" and epoch >= self.cfg.epochs_a:
            return "A", epoch  # stage B starts (deterministically) from here
        return stage, epoch

    def _bar(self, total: int, desc: str):
        return tqdm(total=total, desc=desc, file=sys.stderr, disable=not self.progress, leave=False)

    def _epoch_a(self, ep: int) -> None:
        cfg, model = self.cfg, self.model
        model.train()
        steps = self._steps(self.train_ds)
        loader = self._loader(self.train_ds, cfg.seed * 1000 + ep)
        t0, seen = time.time(), 0
        # sums on the device (in float64, as Python floats would add them): no wait for the
        # device at every step
        tot_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        with self._bar(steps, f"stage A epoch {ep + 1}/{cfg.epochs_a}") as bar:
            for step, (x, y) in enumerate(loader):
                if step >= steps:
                    break
                x, y = self.runtime.move(x, y)
                loss, logits = stage_a_step(
                    model, self.opt, x, y, self.runtime, self.scaler, self._sync
                )
                self.sched.step()
                tot_loss += loss.detach().double() * len(y)
                correct += (logits.argmax(1) == y).sum()
                seen += len(y)
                bar.update(1)
                if self.progress:
                    bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        tot_loss, correct, seen = self.world.sum(tot_loss, correct, seen)  # the global batches
        seconds = time.time() - t0
        if not self._end_epoch():
            return
        model.eval()
        held = accuracy(model, self._eval_loader(self.heldout_ds), runtime=self.runtime)
        self._log(
            {
                "stage": "A",
                "epoch": ep + 1,
                "loss": tot_loss / seen,
                "train_acc": correct / seen,
                "heldout_acc_heaviest": held,
                "lr": self.sched.get_last_lr()[0],
                "seconds": seconds,
                "images": int(seen),
            }
        )
        self._save("A", ep + 1)
        self.world.barrier()

    def _paths(self) -> list:
        return sandwich_paths(self.space, self.path_rng, self.cfg.n_random, self.cfg.sandwich)

    def _epoch_b(self, ep: int) -> None:
        cfg, model, teacher = self.cfg, self.model, self.teacher
        model.train()
        steps = self._steps(self.train_b_ds)
        loader = self._loader(self.train_b_ds, cfg.seed * 1000 + 500 + ep)
        t0, tot_loss, n_loss, seen = time.time(), 0.0, 0, 0
        with self._bar(steps, f"stage B epoch {ep + 1}/{cfg.epochs_b}") as bar:
            for step, (x, y) in enumerate(loader):
                if step >= steps:
                    break
                x, y = self.runtime.move(x, y)
                paths = self._paths()
                for loss in stage_b_step(
                    model, teacher, self.opt, x, y, paths, cfg.gamma, self.runtime, self.scaler,
                    self._sync,
                ):  # fmt: skip
                    tot_loss += loss
                    n_loss += 1
                self.sched.step()
                seen += len(y)
                bar.update(1)
                bar.set_postfix(loss=f"{tot_loss / n_loss:.3f}")
        tot_loss, n_loss, seen = self.world.sum(tot_loss, n_loss, seen)  # the global batches
        seconds = time.time() - t0
        if not self._end_epoch():
            return
        record = {
            "stage": "B",
            "epoch": ep + 1,
            "loss": tot_loss / max(1, n_loss),
            "lr": self.sched.get_last_lr()[0],
            "seconds": seconds,
            "images": int(seen),
            "paths_per_step": len(self._paths_template()),
        }

        def heldout(arch) -> float:
            return one_shot_accuracy(
                model,
                arch,
                self._recal_loader(),
                self._eval_loader(self.heldout_ds),
                cfg.bn_batches,
                self.runtime,
            )

        record["heldout_acc_heaviest"] = heldout(self.space.heaviest())
        record["heldout_acc_smallest"] = heldout(self.space.smallest())
        # the paths that the predictor and the ranking score: neither heaviest nor smallest,
        # which the sandwich rule trains in every step, tell how well the others are trained
        random_accs = [heldout(arch) for arch in self.eval_paths()]
        if random_accs:
            record["heldout_acc_random_mean"] = float(np.mean(random_accs))
            record["heldout_acc_random_min"] = float(np.min(random_accs))
            record["heldout_acc_random_max"] = float(np.max(random_accs))
        self._log(record)
        self._save("B", ep + 1)
        self.world.barrier()

    def _end_epoch(self) -> bool:
        """Whether this rank evaluates and writes the epoch's record (rank 0); another rank
        waits for it here instead."""
        if self.world.main:
            return True
        self.world.barrier()
        return False

    def eval_paths(self) -> list:
        """The ``eval_random`` random paths scored after every stage-B epoch: the same ones every
        epoch (their own generator, so training draws the same paths with or without them)."""
        rng = np.random.default_rng([self.cfg.seed, 20_251_201])
        return [self.space.sample(rng) for _ in range(self.cfg.eval_random)]

    def _paths_template(self) -> list[str]:
        return (["heaviest", "smallest"] if self.cfg.sandwich else []) + ["random"] * (
            self.cfg.n_random
        )

    def _finish(self, seconds: float) -> dict:
        """Test accuracy of the heaviest path (recalibrated when stage B changed the weights).
        The result's ``seconds`` is the training's own time over all its epochs, not this call's
        (``seconds``, unused but kept for callers). Rank 0 evaluates; every rank returns its
        result."""
        if not self.world.main:
            return self.world.broadcast_object()
        cfg, kw = self.cfg, data_kwargs(self.cfg, self.space.config)
        test = get_dataset(cfg.data, "test", data_dir=cfg.data_dir, **kw)
        heaviest = self.space.heaviest()
        if self.history and self.history[-1]["stage"] == "B":
            acc = one_shot_accuracy(
                self.model,
                heaviest,
                self._recal_loader(),
                self._eval_loader(test),
                cfg.bn_batches,
                self.runtime,
            )
        else:
            self.model.set_active(heaviest)
            acc = accuracy(self.model, self._eval_loader(test), runtime=self.runtime)
        result = {
            "epochs": len(self.history),
            # the training's own time, over all its epochs (a resumed or re-finished training
            # counts every epoch once, not only those of the last call)
            "seconds": sum(float(r.get("seconds", 0.0)) for r in self.history),
            "test_acc_heaviest": acc,
            "heldout_acc_heaviest": self.history[-1]["heldout_acc_heaviest"]
            if self.history
            else None,
        }
        stage = self.history[-1]["stage"] if self.history else "A"
        epoch = self.history[-1]["epoch"] if self.history else 0
        self._save(stage, epoch, {"result": result})
        with open(self.out / LOG, "a") as f:
            f.write(json.dumps({"event": "final", **result}) + "\n")
        return self.world.broadcast_object(result)


__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "FORMAT",
    "LOG",
    "SupernetTrainer",
    "data_kwargs",
    "load_supernet",
    "read_checkpoint",
    "resolve_preset",
    "resolve_space",
    "sandwich_paths",
    "stage_a_step",
    "stage_b_step",
    "supernet_optimizer",
    "with_resolved_preset",
]
