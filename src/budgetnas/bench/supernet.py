"""Benchmarks of the MobileNetV3 supernet: training-step overhead and throughput, one-shot
ranking quality and the noise of BatchNorm recalibration.

Run as ``budgetnas bench supernet ...`` (or ``python -m budgetnas.bench.supernet ...``)::

    budgetnas bench supernet overhead --preset fmnist-small --paths 10
    budgetnas bench supernet ranking --supernet runs/x/supernet.pt --archs 10
    budgetnas bench supernet recal-noise --run runs/r --subnets 20 --bn 1,8
    budgetnas bench supernet throughput --preset fmnist-small --steps 10 --rounds 3

Each prints its result as JSON (``--json FILE`` also writes it there).

``overhead``: for random paths, the median over paths of (time of a training step on the
supernet path) / (time of the same step on the extracted standalone network); steps alternate
between the two so that load from other processes hits both alike.

``ranking``: for random architectures, the one-shot held-out accuracy (after BN recalibration)
and the held-out accuracy after a brief fine-tuning of the extracted network (CE + KL from the
heaviest path), then Kendall's tau between them. Each architecture's result is written to a
:class:`~budgetnas.store.Store` as soon as it exists, so an interrupted run resumes.

``recal-noise``: how much of a one-shot accuracy is the BatchNorm recalibration's noise. The
first random subnets of a run's quality report are scored twice on the same held-out images,
after recalibrating on two disjoint sets of ``bn`` training batches; the correlation of the two
scores is the reliability of one recalibration (1: the batches do not matter).

``throughput`` (in :mod:`budgetnas.bench.throughput`): images per second of stage-A and stage-B
training steps, the training as it was (a per-image DataLoader, the contiguous layout, one
thread) against the training as it is (whole batches, channels-last, every core), interleaved.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from budgetnas.bench._base import json_text, register_benchmark, written_json
from budgetnas.config import option

__all__ = [
    "SAMPLES",
    "OverheadConfig",
    "RankingConfig",
    "RecalNoiseConfig",
    "overhead",
    "ranking",
    "ranking_archs",
    "recal_noise",
    "run_overhead",
    "run_ranking",
    "run_recal_noise",
    "tau_interval",
]

SAMPLES = ("uniform", "macs-spread")
SCHEDULES = ("cosine", "constant")


def _step_time(model, opt, x, y, steps: int) -> list[float]:
    import torch.nn.functional as F

    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def overhead(
    preset: str = "fmnist-small",
    paths: int = 10,
    batch_size: int = 128,
    steps: int = 3,
    seed: int = 0,
    threads: int = 1,
) -> dict:
    """Median over ``paths`` random paths of supernet-step time / standalone-step time."""
    import torch
    from tqdm import tqdm

    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.supernet import MobileNetSupernet, extract

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    space = MobileNetSpace(preset=preset)
    cfg = space.config
    net = MobileNetSupernet(space).train()
    x = torch.randn(batch_size, cfg.in_channels, cfg.image_size, cfg.image_size)
    y = torch.randint(0, cfg.num_classes, (batch_size,))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in tqdm(range(paths), desc="paths", file=sys.stderr):
        arch = space.sample(rng)
        net.set_active(arch)
        child = extract(net, arch).train()
        opt_s = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
        opt_c = torch.optim.SGD(child.parameters(), lr=1e-3, momentum=0.9)
        _step_time(net, opt_s, x, y, 1)  # warm-up
        _step_time(child, opt_c, x, y, 1)
        t_s, t_c = [], []
        for _ in range(steps):  # interleave, so background load hits both alike
            t_s += _step_time(net, opt_s, x, y, 1)
            t_c += _step_time(child, opt_c, x, y, 1)
        ratio = statistics.median(t_s) / statistics.median(t_c)
        rows.append(
            {
                "arch": str(arch),
                "supernet_s": statistics.median(t_s),
                "standalone_s": statistics.median(t_c),
                "ratio": ratio,
                "macs": space.count_macs(arch),
            }
        )
    return {
        "preset": preset,
        "batch_size": batch_size,
        "threads": threads,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "max_ratio": max(r["ratio"] for r in rows),
        "paths": rows,
    }


def _finetune_steps(
    child, teacher, train, batch_size: int, lr: float, steps: int, schedule, seed, runtime=None
):
    """``steps`` SGD steps (Nesterov momentum 0.9) of ``child`` on CE + KL from ``teacher``,
    ``schedule`` cosine (to 0 over the steps) or constant; the data order from ``seed``; on
    ``runtime``'s device and precision (both networks there already; default: the CPU, fp32)."""
    import torch

    from budgetnas.data import make_loader
    from budgetnas.devices import Runtime
    from budgetnas.training.finetune import distill_step

    rt = runtime or Runtime.cpu()
    scaler = rt.scaler()

    opt = torch.optim.SGD(child.parameters(), lr=lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if schedule == "cosine" else None
    torch.manual_seed(seed)
    loader = make_loader(train, batch_size, shuffle=True, seed=seed, device=rt.device)
    done = 0
    while done < steps:
        for x, y in loader:
            if done >= steps:
                break
            distill_step(child, teacher, x, y, opt, rt, scaler)
            if sched is not None:
                sched.step()
            done += 1
    return child


def _ranking_record(trained, teacher, train, held, arch, recipe: tuple) -> dict:
    """One architecture of the ranking: its one-shot and its briefly fine-tuned accuracy
    (``recipe``: steps, learning rate, schedule and seed of the fine-tuning)."""
    finetune_steps, lr, schedule, seed = recipe
    from budgetnas.supernet import extract
    from budgetnas.training.evaluate import accuracy, one_shot_accuracy

    t0 = time.time()
    net, bn, rt = trained.net, trained.train.bn_batches, trained.runtime
    one_shot = one_shot_accuracy(net, arch, trained.recal_batches(), held, bn, rt)
    child = extract(net, arch).train()  # on the supernet's device
    batch = trained.train.batch_size
    _finetune_steps(child, teacher, train, batch, lr, finetune_steps, schedule, seed, rt)
    return {
        "arch": str(arch),
        "one_shot": one_shot,
        "finetuned": accuracy(child, held, runtime=rt),
        "macs": trained.space.count_macs(arch),
        "seconds": time.time() - t0,
    }


def _ranking_key(supernet: str, arch, steps: int, lr: float, eval_subset, schedule: str) -> str:
    """The store key of one architecture's ranking record."""
    key = f"{Path(supernet).resolve()}|{arch}|steps{steps}|lr{lr}|eval{eval_subset}"
    if schedule != "constant":  # records of the constant rate keep their keys
        key += f"|{schedule}"
    return key


def ranking(
    supernet: str,
    archs: int = 10,
    finetune_steps: int = 100,
    lr: float = 0.01,
    seed: int = 1,
    store: str | None = None,
    eval_subset: int | None = None,
    threads: int = 1,
    schedule: str = "cosine",
    sample: str = "uniform",
    device: str | None = None,
    precision: str | None = None,
) -> dict:
    """Kendall tau between one-shot and briefly fine-tuned held-out accuracy of random archs,
    scored and fine-tuned on ``device`` in ``precision`` (default: the training's settings).

    ``sample`` draws the architectures: ``"uniform"`` (independent uniform samples, the issue's
    protocol) or ``"macs-spread"`` (from 50 uniform samples per architecture, the ones at evenly
    spaced MACs quantiles, so the set spans the space's sizes instead of bunching in its middle).

    ``schedule`` is the fine-tuning learning rate: ``"cosine"`` (decays to 0 over the steps, so
    the accuracy is read at a settled network) or ``"constant"`` (the last iterate of SGD at
    ``lr``, which still moves by a point or more from step to step).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose cosine or constant")
    if sample not in SAMPLES:
        raise ValueError(f"unknown sample {sample!r}; choose {' or '.join(SAMPLES)}")
    import torch
    from scipy.stats import kendalltau
    from tqdm import tqdm

    from budgetnas.data import make_loader
    from budgetnas.store import Store
    from budgetnas.training.trained import TrainedSupernet

    torch.set_num_threads(threads)
    trained = TrainedSupernet.open(supernet, finished=False, device=device, precision=precision)
    space, t = trained.space, trained.train
    train = trained.dataset("search-train", t.subset, augment=t.augment)
    held = trained.dataset("heldout", eval_subset, seed=0)
    held_batches = list(make_loader(held, 500, False))
    db = Store(store or Path(supernet).with_name("ranking.sqlite"))
    sampled = ranking_archs(space, archs, np.random.default_rng(seed), sample)
    teacher = trained.teacher()  # the heaviest path, recalibrated, frozen
    rows = []
    for i, arch in enumerate(tqdm(sampled, desc="archs", file=sys.stderr)):
        key = _ranking_key(supernet, arch, finetune_steps, lr, eval_subset, schedule)
        rec = db.get("supernet-ranking", key)
        if rec is None:
            recipe = (finetune_steps, lr, schedule, seed * 100 + i)
            rec = _ranking_record(trained, teacher, train, held_batches, arch, recipe)
            db.put("supernet-ranking", key, rec)
        rows.append(rec)
    one_shot, tuned = [r["one_shot"] for r in rows], [r["finetuned"] for r in rows]
    tau = kendalltau(one_shot, tuned)
    tau_macs = kendalltau([r["macs"] for r in rows], tuned)
    return {
        "supernet": str(supernet),
        "archs": archs,
        "finetune_steps": finetune_steps,
        "schedule": schedule,
        "sample": sample,
        "heldout_images": len(held),
        "runtime": trained.runtime.describe(),
        "kendall_tau": float(tau.statistic),
        "kendall_tau_ci95": tau_interval(one_shot, tuned, seed=seed),
        "kendall_tau_pvalue": float(tau.pvalue),
        "kendall_tau_macs_baseline": float(tau_macs.statistic),
        "rows": rows,
    }


def recal_noise(
    run: str,
    subnets: int = 20,
    heldout: int = 2000,
    bn: tuple[int, ...] = (1, 8),
    threads=1,
    device: str | None = None,
    precision: str | None = None,
) -> dict:
    """For each number of recalibration batches in ``bn``: the one-shot accuracies of ``subnets``
    random subnets (those of the run's quality report) after two disjoint recalibrations, on the
    same ``heldout`` images, and how well the two agree (Pearson, Kendall tau, spread of the
    difference against the spread of the subnets); scored on ``device`` in ``precision``
    (default: the run's)."""
    import torch
    from scipy import stats
    from tqdm import tqdm

    from budgetnas.pipeline.run import open_run
    from budgetnas.predictors.quality import random_subnets
    from budgetnas.training.evaluate import one_shot_counts

    torch.set_num_threads(threads)
    trained = open_run(run, lambda msg: None, device, precision).trained
    ev = trained.evaluator(heldout, batch=500)
    recal, held = ev.recal_batches, ev.eval_batches
    if 2 * max(bn) > len(recal):
        raise ValueError(
            f"bn {max(bn)} needs {2 * max(bn)} recalibration batches, the run has {len(recal)}"
        )
    archs = random_subnets(trained.space, subnets, seed=1)
    out = {"run": run, "subnets": subnets, "heldout": sum(len(y) for _, y in held), "bn": {}}
    out["runtime"] = trained.runtime.describe()
    for n in bn:
        scores = np.zeros((2, len(archs)))
        for i, arch in enumerate(tqdm(archs, desc=f"recalibration on {n} batches", leave=False)):
            for k in (0, 1):
                part = recal[k * n : (k + 1) * n]
                c, t = one_shot_counts(trained.net, arch, part, held, n, trained.runtime)
                scores[k, i] = sum(c) / sum(t)
        varies = bool(np.ptp(scores, axis=1).min() > 0)
        out["bn"][str(n)] = {
            "images": n * trained.train.batch_size,
            # None where a recalibration scores every subnet alike (nothing to correlate)
            "pearson": float(stats.pearsonr(*scores).statistic) if varies else None,
            "kendall_tau": float(stats.kendalltau(*scores).statistic) if varies else None,
            "sd_difference": float(np.std(scores[0] - scores[1])),
            "sd_subnets": float(scores.mean(0).std()),
            "scores": scores.tolist(),
        }
    return out


def ranking_archs(space, n: int, rng: np.random.Generator, sample: str = "uniform") -> list:
    """The ``n`` architectures of the ranking bench (see ``sample`` in :func:`ranking`)."""
    if sample == "uniform":
        return [space.sample(rng) for _ in range(n)]
    pool = sorted((space.sample(rng) for _ in range(50 * n)), key=space.count_macs)
    return [pool[int((i + 0.5) * len(pool) / n)] for i in range(n)]


def tau_interval(x, y, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> list:
    """Percentile bootstrap interval of Kendall's tau over the pairs ``(x_i, y_i)``: with 10
    architectures one tau is a rough estimate, and the interval says how rough."""
    from scipy.stats import kendalltau

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3:
        raise ValueError("need at least 3 pairs for an interval")
    rng = np.random.default_rng(seed)
    taus = []
    for _ in range(resamples):
        idx = rng.integers(0, x.size, x.size)
        t = kendalltau(x[idx], y[idx]).statistic
        if np.isfinite(t):  # a resample of one repeated pair has no ranking
            taus.append(t)
    if not taus:  # no resample ranks anything (every value tied)
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


# ---- the benchmarks of ``budgetnas bench supernet ...`` -------------------------------------------
@dataclass
class OverheadConfig:
    """Settings of ``budgetnas bench supernet overhead``."""

    preset: str = option("fmnist-small", "the MobileNetV3 space preset")
    paths: int = option(10, "random paths timed")
    batch_size: int = option(128, "images per training step")
    steps: int = option(3, "timed steps per path and network")
    threads: int = option(1, "torch threads")
    seed: int = option(0, "seed of the paths and of the random batch")
    json: str | None = option(None, "also write the result here")


@dataclass
class RankingConfig:
    """Settings of ``budgetnas bench supernet ranking`` (``supernet`` is required)."""

    supernet: str | None = option(
        None, "a trained supernet.pt (`budgetnas train`) or a registered name"
    )
    archs: int = option(10, "random architectures ranked")
    finetune_steps: int = option(100, "fine-tuning steps of each architecture")
    lr: float = option(0.01, "fine-tuning learning rate")
    eval_subset: int | None = option(None, "held-out images (none: all)")
    store: str | None = option(None, "SQLite store of the records (none: beside the supernet)")
    threads: int = option(1, "torch threads")
    schedule: str = option(
        "cosine",
        "fine-tuning learning rate: cosine decay to 0 or constant",
        choices=SCHEDULES,
    )
    sample: str = option(
        "uniform", "architectures: uniform samples or spread evenly over MACs", choices=SAMPLES
    )
    seed: int = option(1, "seed of the architectures and of the fine-tuning")
    json: str | None = option(None, "also write the result here")
    device: str | None = option(
        None, "device of the scores and fine-tunings (none: the training's)"
    )
    precision: str | None = option(
        None, "precision of the scores and fine-tunings (none: the training's)"
    )


@dataclass
class RecalNoiseConfig:
    """Settings of ``budgetnas bench supernet recal-noise`` (``run`` is required)."""

    run: str | None = option(None, "a finished `budgetnas run` directory")
    subnets: int = option(20, "random subnets of the run's quality report scored")
    heldout: int = option(2000, "held-out images scoring each subnet")
    bn: list[int] = option(
        [1, 8], "numbers of recalibration batches to compare", flag="bn", sep=","
    )
    threads: int = option(1, "torch threads")
    json: str | None = option(None, "also write the result here")
    device: str | None = option(None, "device of the one-shot scores (none: the run's)")
    precision: str | None = option(None, "precision of the one-shot scores (none: the run's)")


@register_benchmark(
    "supernet overhead",
    "training-step time of supernet paths against their standalone networks",
    OverheadConfig,
    summary=json_text,
)
def run_overhead(cfg: OverheadConfig) -> dict:
    res = overhead(cfg.preset, cfg.paths, cfg.batch_size, cfg.steps, cfg.seed, cfg.threads)
    return written_json(res, cfg.json)


@register_benchmark(
    "supernet ranking",
    "Kendall tau of one-shot against briefly fine-tuned accuracy (see docs/bench/supernet.md)",
    RankingConfig,
    summary=json_text,
    required=("supernet",),
)
def run_ranking(cfg: RankingConfig) -> dict:
    from budgetnas.files import check_distinct_outputs

    store = cfg.store or (Path(cfg.supernet).with_name("ranking.sqlite") if cfg.supernet else None)
    check_distinct_outputs(json=cfg.json, store=store, supernet=cfg.supernet)
    res = ranking(
        cfg.supernet,
        cfg.archs,
        cfg.finetune_steps,
        cfg.lr,
        cfg.seed,
        cfg.store,
        cfg.eval_subset,
        cfg.threads,
        cfg.schedule,
        cfg.sample,
        cfg.device,
        cfg.precision,
    )
    return written_json(res, cfg.json)


@register_benchmark(
    "supernet recal-noise",
    "agreement of one-shot accuracies after two disjoint BatchNorm recalibrations",
    RecalNoiseConfig,
    summary=json_text,
    required=("run",),
)
def run_recal_noise(cfg: RecalNoiseConfig) -> dict:
    res = recal_noise(
        cfg.run, cfg.subnets, cfg.heldout, tuple(cfg.bn), cfg.threads, cfg.device, cfg.precision
    )
    return written_json(res, cfg.json)


if __name__ == "__main__":
    from budgetnas.cli.main import main

    sys.exit(main(["bench", "supernet", *sys.argv[1:]]))
