"""``budgetnas bench supernet throughput``: supernet training speed on the CPU, in images per
second, of the training as it was ("before") against the training as it is now ("after").

* before: a ``torch.utils.data.DataLoader`` over the dataset (every image indexed, augmented and
  normalized by its own ``__getitem__``), the network in the contiguous memory format, one torch
  thread;
* after: :func:`budgetnas.data.make_loader` (whole batches at once,
  :class:`~budgetnas.data.batches.TensorBatchLoader`), the channels-last layout
  (:func:`~budgetnas.training.speed.fast_layout`) and ``threads`` torch threads (0: every core,
  :func:`~budgetnas.training.speed.use_threads`).

Both train the same network (the same initial weights), on the same augmented training images,
with the optimizer of ``budgetnas train``, through the same step functions: a stage-A step (the
heaviest path, cross-entropy, one SGD step) and a stage-B step (the frozen teacher's forward
without gradients, then the sandwich paths: heaviest, smallest and ``n_random`` random ones, each
forward and backward with the inner distillation loss, then one SGD step). Loading a batch is
part of the step it feeds. Each measurement is ``warmup`` untimed steps, then ``steps`` timed
ones; the ``rounds`` measurements of the two variants alternate (before, after, then after,
before, ...) so that load from other processes and drift hit both alike. Reported per variant
and stage: the median images/s over the rounds, the least and the most; the ratio after/before
of the medians; the threads used, the device and precision of each variant (``--device``,
``--precision`` set the 'after' one; 'before' is the CPU in fp32) and the machine.

Example (a few tiny steps on generated images)::

    budgetnas bench supernet throughput --data synthetic --preset tiny --batch-size 16 \\
        --steps 2 --rounds 1
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from budgetnas.bench._base import json_text, register_benchmark, written_json
from budgetnas.config import option
from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS

__all__ = ["STAGES", "VARIANTS", "ThroughputConfig", "run_throughput", "throughput"]

VARIANTS = ("before", "after")
STAGES = ("stage_a", "stage_b")


@dataclass
class ThroughputConfig:
    """Settings of ``budgetnas bench supernet throughput``."""

    preset: str = option("fmnist-small", "the MobileNetV3 space preset")
    data: str = option(
        "fashion-mnist",
        "the training images: fashion-mnist, cifar10, synthetic, folder:PATH (an image folder) or arrays:DIR",
    )
    data_dir: str | None = option(None, "dataset folder (default: $BUDGETNAS_DATA)")
    image_size: int | None = option(
        None, "folder data: image side in pixels (none: the most common size in the folder)"
    )
    strict: bool = option(
        False,
        "folder data: a file that cannot be decoded is an error (default: warned and skipped)",
    )
    batch_size: int = option(128, "images per training step")
    steps: int = option(10, "timed training steps per measurement")
    rounds: int = option(3, "measurements of each variant and stage, alternating the variants")
    warmup: int = option(2, "untimed steps before each measurement")
    n_random: int = option(2, "random paths per stage-B step (besides the heaviest and smallest)")
    threads: int = option(0, "torch threads of the 'after' training (0: every core)")
    seed: int = option(0, "seed of the weights, the data order and the paths")
    json: str | None = option(None, "also write the result here")
    device: str = option(
        "auto", "device of the 'after' training (" + DEVICE_HELP + "); 'before' is always the CPU"
    )
    precision: str = option(
        "auto", "precision of the 'after' training: " + PRECISION_HELP, choices=PRECISIONS
    )


def _train_steps(
    batches: Iterator, step: Callable, steps: int, sync: Callable[[], None] | None = None
) -> float:
    """Images per second of ``steps`` calls of ``step(x, y)``, each on the next batch of
    ``batches`` (fetching it timed too). ``sync`` waits for queued device work before the clock
    is read at the start and the end (CUDA runs asynchronously).

    Example:
        >>> seen = []
        >>> rate = _train_steps(_endless([("x", [0, 1])]), lambda x, y: seen.append(x), 3)
        >>> seen, rate > 0
        (['x', 'x', 'x'], True)
    """
    images = 0
    if sync is not None:
        sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = next(batches)
        step(x, y)
        images += len(y)
    if sync is not None:
        sync()
    return images / (time.perf_counter() - t0)


def _endless(loader) -> Iterator:
    """The batches of ``loader``, pass after pass."""
    while True:
        yield from loader


def _stage_a_step(model, opt, heaviest, runtime=None, scaler=None) -> Callable:
    """A stage-A training step (:func:`~budgetnas.training.supernet.stage_a_step`) on the
    heaviest path (batches moved to ``runtime``'s device first)."""
    from budgetnas.training.supernet import stage_a_step

    def step(x, y):
        if runtime is not None:
            x, y = runtime.move(x, y)
        model.set_active(heaviest)
        stage_a_step(model, opt, x, y, runtime, scaler)

    return step


def _stage_b_step(
    model, teacher, opt, paths: Callable, gamma: float, runtime=None, scaler=None
) -> Callable:
    """A stage-B training step (:func:`~budgetnas.training.supernet.stage_b_step`) on the paths
    of ``paths()``."""
    from budgetnas.training.supernet import stage_b_step

    def step(x, y):
        if runtime is not None:
            x, y = runtime.move(x, y)
        stage_b_step(model, teacher, opt, x, y, paths(), gamma, runtime, scaler)

    return step


def _variant(name: str, cfg: ThroughputConfig, train, space, dataset) -> dict:
    """One variant's data stream, thread setting and step functions, on a network built from
    ``cfg.seed`` (the same initial weights in both variants)."""
    import copy

    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from budgetnas.data import make_loader
    from budgetnas.devices import Runtime
    from budgetnas.supernet import MobileNetSupernet
    from budgetnas.training.speed import fast_layout
    from budgetnas.training.supernet import sandwich_paths, supernet_optimizer

    torch.manual_seed(cfg.seed)
    model = MobileNetSupernet(space).train()
    teacher = copy.deepcopy(model).eval()
    teacher.set_active(space.heaviest())
    for p in teacher.parameters():
        p.requires_grad_(False)
    runtime = Runtime.cpu()
    if name == "after":
        runtime = Runtime.resolve(cfg.device, cfg.precision)
        dev = runtime.device
        loader = make_loader(dataset, cfg.batch_size, shuffle=True, seed=cfg.seed, device=dev)
        fast_layout(model.to(dev), dev)
        fast_layout(teacher.to(dev), dev)
    else:
        gen = torch.Generator().manual_seed(cfg.seed)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, generator=gen)
    opt, _ = supernet_optimizer(model.parameters(), train, train.lr_a, 1)
    rng = np.random.default_rng(cfg.seed)

    def paths():
        return sandwich_paths(space, rng, cfg.n_random)

    scaler = runtime.scaler()
    sync = None
    if runtime.device.type == "cuda":
        sync = partial(torch.cuda.synchronize, runtime.device)
    return {
        "threads": cfg.threads if name == "after" else 1,
        "runtime": runtime,
        "sync": sync,
        "batches": _endless(loader),
        "stage_a": _stage_a_step(model, opt, space.heaviest(), runtime, scaler),
        "stage_b": _stage_b_step(model, teacher, opt, paths, train.gamma, runtime, scaler),
    }


def machine() -> dict:
    """The CPU the measurement ran on."""
    from budgetnas.costs.fingerprint import cpu_model
    from budgetnas.training.speed import available_cores

    return {
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "available_cores": available_cores(),
    }


def _summary(rates: list[float]) -> dict:
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "rounds": rates,
    }


def throughput(cfg: ThroughputConfig) -> dict:
    """Images per second of stage-A and stage-B training steps, before against after (see the
    module docstring); torch's thread setting is restored afterwards."""
    import torch

    from budgetnas.data import get_dataset
    from budgetnas.training.config import TrainConfig
    from budgetnas.training.speed import use_threads
    from budgetnas.training.supernet import data_kwargs, resolve_space

    if min(cfg.steps, cfg.rounds, cfg.batch_size) <= 0 or cfg.warmup < 0 or cfg.n_random < 0:
        raise ValueError("steps, rounds and batch_size must be positive, warmup and n_random >= 0")
    train = TrainConfig(
        data=cfg.data,
        preset=cfg.preset,
        data_dir=cfg.data_dir,
        image_size=cfg.image_size,
        strict=cfg.strict,
        seed=cfg.seed,
    )
    space = resolve_space(train)
    kw = data_kwargs(train, space.config)
    dataset = get_dataset(cfg.data, "search-train", cfg.data_dir, augment=train.augment, **kw)
    variants = {name: _variant(name, cfg, train, space, dataset) for name in VARIANTS}
    rates = {name: {stage: [] for stage in STAGES} for name in VARIANTS}
    threads_before = torch.get_num_threads()
    used = {}
    try:
        for r in range(cfg.rounds):
            for name in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                v = variants[name]
                used[name] = use_threads(v["threads"])
                for stage in STAGES:
                    if cfg.warmup:
                        _train_steps(v["batches"], v[stage], cfg.warmup, v["sync"])
                    rates[name][stage].append(
                        _train_steps(v["batches"], v[stage], cfg.steps, v["sync"])
                    )
    finally:
        torch.set_num_threads(threads_before)
    out = {
        "preset": cfg.preset,
        "data": cfg.data,
        "batch_size": cfg.batch_size,
        "steps": cfg.steps,
        "rounds": cfg.rounds,
        "warmup": cfg.warmup,
        "n_random": cfg.n_random,
        "threads": used,
        "runtime": {name: variants[name]["runtime"].describe() for name in VARIANTS},
        "machine": machine(),
        "torch": torch.__version__,
    }
    for name in VARIANTS:
        out[name] = {stage: _summary(rates[name][stage]) for stage in STAGES}
    out["ratio"] = {
        stage: out["after"][stage]["median"] / out["before"][stage]["median"] for stage in STAGES
    }
    return out


@register_benchmark(
    "supernet throughput",
    "supernet training images/s: the per-image DataLoader, contiguous, 1 thread against the "
    "batched loader, channels-last, every core",
    ThroughputConfig,
    summary=json_text,
)
def run_throughput(cfg: ThroughputConfig) -> dict:
    return written_json(throughput(cfg), cfg.json)
