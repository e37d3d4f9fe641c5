"""Stage 1: the run's trained supernet, trained into ``supernet/`` or reused.

Under ``torchrun`` the training is the one stage that every rank takes part in: rank 0 runs the
pipeline and, once it knows whether the supernet must be trained, sends the other ranks the
training's settings (:func:`follow_training` is what they do); they train with it
(:class:`~budgetnas.training.supernet.SupernetTrainer` is data-parallel) and leave. The later
stages (predictor, search, fine-tuning, export) run on rank 0 alone.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

__all__ = ["follow_training", "supernet_stage"]


def supernet_stage(ctx):
    """Train the supernet of ``ctx.cfg.train`` into ``OUT/supernet`` (resumed when interrupted,
    reused when finished) or reuse the one named by ``ctx.cfg.supernet``; sets ``ctx.trained``.
    Refuses a checkpoint trained with other settings than the run asks for."""
    from budgetnas.distributed import World
    from budgetnas.training.supernet import CHECKPOINT

    ckpt = ctx.out / "supernet" / CHECKPOINT
    world = World.from_env()
    if ctx.cfg.supernet is not None:
        _release(world)
        ctx.trained = _reused(ctx, ckpt)
    else:
        ctx.trained = _trained_here(ctx, ckpt, world)
    return ctx.trained


def follow_training(world) -> None:
    """A rank other than 0 in ``budgetnas run`` under ``torchrun``: train the supernet with rank
    0 when it says so (its settings, folder and whether to resume), then leave; nothing when it
    reuses one."""
    from budgetnas.training.supernet import SupernetTrainer

    plan = world.broadcast_object()
    if plan is None:
        world.stop()
        return
    train, folder, resume = plan
    SupernetTrainer(train, folder, progress=False).run(resume=resume)


def _release(world) -> None:
    """Tell the other ranks (under ``torchrun``) that there is nothing to train; they leave."""
    world.broadcast_object(None)
    world.stop()


def _trained_here(ctx, ckpt: Path, world):
    from budgetnas.training.supernet import SupernetTrainer
    from budgetnas.training.trained import TrainedSupernet

    train = ctx.cfg.train
    runtime = {"device": train.device, "precision": train.precision}  # the run's, every stage
    if ckpt.is_file():
        # read once, checked, then reused (a training continues on any device)
        trained = TrainedSupernet.open(ckpt, finished=False, **runtime)
        if not trained.train.same_training(train):
            raise ValueError(
                f"{ckpt} was trained with other settings than this run asks for; "
                "use another --out directory (or delete the supernet/ folder to retrain)"
            )
        if trained.result is not None:
            _release(world)
            ctx.log(f"reusing the trained supernet in {ckpt.parent}")
            return trained
    where = f" on {world.size} ranks" if world.distributed else ""
    ctx.log(f"training the supernet into {ckpt.parent}{where}")
    world.broadcast_object((train, str(ckpt.parent), ckpt.is_file()))  # the others train too
    SupernetTrainer(train, ckpt.parent, progress=False).run(resume=ckpt.is_file())
    return TrainedSupernet.open(ckpt, **runtime)


def _reused(ctx, ckpt: Path):
    """Copy the supernet named by ``cfg.supernet`` into the run directory (once) and take its
    training settings, with the run's recalibration batches and data folder; the run's
    configuration then records the training it reuses."""
    from budgetnas.files import atomic_path
    from budgetnas.training.supernet import read_checkpoint
    from budgetnas.training.trained import TrainedSupernet, supernet_checkpoint

    cfg = ctx.cfg
    if not ckpt.is_file():
        src = supernet_checkpoint(cfg.supernet)  # a file, a training folder or a registered name
        read_checkpoint(src)  # checked (safely) before it becomes the run's own copy
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt) as tmp:
            shutil.copyfile(src, tmp)
        ctx.log(f"reusing the supernet {src} (copied into {ckpt.parent})")
    else:
        src = Path(cfg.supernet)
    _import_records(ctx, cfg.supernet)
    try:
        # scored on the run's device and precision, whatever the training ran on
        trained = TrainedSupernet.open(
            ckpt,
            data_dir=cfg.train.data_dir,
            bn_batches=cfg.train.bn_batches,
            device=cfg.train.device,
            precision=cfg.train.precision,
        )
    except ValueError as exc:
        if "not a finished training" not in str(exc):
            raise
        raise ValueError(
            f"{src} is not a finished training (no final result in the checkpoint); "
            f"finish it with `budgetnas train --resume --out {src.parent}`"
        ) from None
    if trained.train.data != cfg.train.data:
        raise ValueError(
            f"{src} was trained on {trained.train.data!r}, this run asks for {cfg.train.data!r}"
        )
    ctx.cfg = dataclasses.replace(cfg, train=trained.train)
    return trained


def _import_records(ctx, name: str) -> None:
    """The predictor's evaluations that a registered supernet ships with, into the run's store
    (only the records it lacks: a rerun adds nothing)."""
    from budgetnas.hub import entries, import_records, resolve_file

    entry = entries().get(name)
    if entry is None or entry.records is None or Path(name).exists():
        return
    added = import_records(resolve_file(entry, "records"), ctx.store)
    if added:
        ctx.log(f"imported {added} stored evaluations shipped with the supernet {name!r}")
