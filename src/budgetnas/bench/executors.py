"""``budgetnas bench predictor parallel``: the predictor's 1 + 255 expectations measured on an
executor with 1 worker and with more, the same records expected from each.

Every measurement starts from an empty store and measures all 256 expectations of the
supernet's predictor (``heldout`` images each, in batches of ``batch``, each path's BatchNorms
re-estimated on ``bn_batches`` training batches) as
:func:`~budgetnas.predictors.parallel.measure_on_executor` does in ``budgetnas run``: tasks
return records, this process writes them. The worker counts alternate over the rounds (1, 2,
then 2, 1, ...) so that drift hits them alike; each worker uses one torch thread. The first
``warmup`` rounds (not counted) let each worker process build its evaluators (open the
supernet and its data); the ``rounds`` counted after them find them built. Reported: seconds
per worker count (median, least, most), the speed-up of the medians against 1 worker, whether
every measurement wrote the same records bit for bit, the time Ray took to start, and the
machine.

Example (the shipped supernet, 64 held-out images)::

    budgetnas bench predictor parallel --heldout 64 --batch 64 --rounds 1 --warmup 0
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

from budgetnas.bench._base import json_text, register_benchmark, written_json
from budgetnas.config import option

__all__ = ["ParallelConfig", "parallel_predictor", "run_parallel"]


@dataclass
class ParallelConfig:
    """Settings of ``budgetnas bench predictor parallel``."""

    supernet: str = option("fmnist-small", "supernet.pt, its folder, or a registered name")
    data_dir: str | None = option(None, "dataset folder (default: $BUDGETNAS_DATA)")
    executor: str = option("ray", "local or ray", choices=("local", "ray"))
    ray_address: str | None = option(None, "a running Ray cluster (none: start one here)")
    workers: str = option("1,2", "the worker counts compared, comma-separated")
    heldout: int = option(100, "held-out images per expectation")
    bn_batches: int = option(
        2, "training batches re-estimating the BatchNorms of each path (the runs' default: 20)"
    )
    batch: int = option(100, "images per batch")
    rounds: int = option(2, "measurements per worker count, alternating")
    warmup: int = option(
        1, "rounds first measured and left out (every worker process builds its evaluators)"
    )
    json: str | None = option(None, "write the result to this JSON file")


def parallel_predictor(cfg: ParallelConfig, log=print) -> dict:
    """The measurements of the module's docstring; ``log`` gets a line per measurement."""
    from budgetnas.bench.throughput import machine
    from budgetnas.executors import get_executor
    from budgetnas.predictors.fit import PredictorConfig, _evaluators, default_worker_setup
    from budgetnas.predictors.parallel import measure_on_executor
    from budgetnas.store import Store
    from budgetnas.training.trained import TrainedSupernet

    counts = [int(w) for w in cfg.workers.split(",") if w.strip()]
    if not counts or min(counts) < 1 or cfg.rounds < 1:
        raise ValueError("--workers needs counts >= 1 and --rounds at least 1")
    trained = TrainedSupernet.open(
        cfg.supernet, data_dir=cfg.data_dir, bn_batches=cfg.bn_batches, finished=False
    )
    pcfg = PredictorConfig(heldout=cfg.heldout, batch=cfg.batch, executor=cfg.executor)
    local = _evaluators(trained, pcfg, 0, None)
    # one torch thread per worker, as on a cluster's CPU slot
    setup = default_worker_setup(trained, replace(pcfg, executor="ray"), 0, None)
    t0 = time.perf_counter()
    executors = {}
    for w in sorted(counts, reverse=True):  # the largest first: a local Ray gets its CPUs
        executors[w] = get_executor(cfg.executor, w, address=cfg.ray_address)
    started_s = time.perf_counter() - t0
    seconds: dict[int, list[float]] = {w: [] for w in counts}
    reference, same = None, True
    try:
        for r in range(cfg.warmup + cfg.rounds):
            for w in counts if r % 2 == 0 else counts[::-1]:
                store = Store(":memory:")
                t = time.perf_counter()
                measure_on_executor(setup, executors[w], store, local, log=lambda s: None)
                if r >= cfg.warmup:
                    seconds[w].append(time.perf_counter() - t)
                records = dict(store.items("binas"))
                if reference is None:
                    reference = records
                same = same and records == reference
                what = "warm-up" if r < cfg.warmup else f"round {r + 1 - cfg.warmup}"
                log(f"{what}, {w} worker(s): {time.perf_counter() - t:.1f} s")
    finally:
        for ex in executors.values():
            ex.close()
    base = statistics.median(seconds[min(counts)])
    return {
        "executor": executors[min(counts)].describe().split(",")[0],
        "supernet": cfg.supernet,
        "expectations": len(reference or {}),
        "heldout": cfg.heldout,
        "bn_batches": cfg.bn_batches,
        "seconds": {
            str(w): {
                "median": statistics.median(s),
                "min": min(s),
                "max": max(s),
                "rounds": len(s),
            }
            for w, s in seconds.items()
        },
        "speedup": {str(w): base / statistics.median(s) for w, s in seconds.items()},
        "same_records": bool(same),
        "executor_start_s": started_s,
        "machine": machine(),
    }


@register_benchmark(
    "predictor parallel",
    "the predictor's 256 expectations measured by 1 worker and by more (Ray or local "
    "processes): seconds, speed-up, the same records",
    ParallelConfig,
    summary=json_text,
)
def run_parallel(cfg: ParallelConfig) -> dict:
    import sys

    return written_json(parallel_predictor(cfg, log=lambda s: print(s, file=sys.stderr)), cfg.json)
