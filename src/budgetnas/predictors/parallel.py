"""The predictor's supernet evaluations in several processes (docs/methods/predictors.md: the
1 + 255 expectations are embarrassingly parallel).

Each process measures one shard ``(i, n)`` (items ``i, i + n, ...``) of the expectations and of the
report subnets into the shared :class:`~budgetnas.store.Store` (SQLite in WAL mode, safe across
processes); the fit afterwards finds every record there. Workers are started with ``spawn`` and
build their own evaluators from ``setup``, a picklable callable (a module-level function or a
``functools.partial`` of one) returning ``(evaluator, subnet evaluator, store)``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence

from budgetnas.predictors.binas import measure_expectations
from budgetnas.predictors.quality import random_subnet_accuracies

Setup = Callable[[], tuple]


def measure_shard(
    setup: Setup | tuple,
    shard: tuple[int, int],
    subnets: Sequence[tuple[int, int]] = (),
    log: Callable[[str], None] | None = None,
) -> None:
    """Measure shard ``(i, n)`` of the expectations and of each ``(count, seed)`` subnet set.

    ``setup`` is the callable of the module doc, or its result.
    """
    ev, sub_ev, store = setup() if callable(setup) else setup
    label = f"shard {shard[0]}/{shard[1]}"

    def progress(k, n):
        if log is not None and (k % 16 == 0 or k == n):
            log(f"predictor {label}: {k}/{n} expectations")

    measure_expectations(ev, store, shard=shard, progress=progress)
    for count, seed in subnets:
        random_subnet_accuracies(sub_ev, count, seed=seed, store=store, shard=shard)


def _print(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


def measure_in_processes(
    setup: Setup,
    jobs: int,
    subnets: Sequence[tuple[int, int]] = (),
    local: tuple | None = None,
    log: Callable[[str], None] = _print,
) -> list[int]:
    """Measure everything in ``jobs`` processes: ``jobs - 1`` workers and this one (with
    ``local``, evaluators already built here, else ``setup()``). Returns the shards whose worker
    failed; the fit afterwards measures whatever they left.
    """
    jobs = int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=measure_shard, args=(setup, (i, jobs), subnets, _print), daemon=True)
        for i in range(1, jobs)
    ]
    for w in workers:
        w.start()
    log(f"predictor: measuring in {jobs} processes")
    try:
        measure_shard(local if local is not None else setup, (0, jobs), subnets, log)
    finally:
        for w in workers:
            w.join()
    failed = [i + 1 for i, w in enumerate(workers) if w.exitcode != 0]
    if failed:
        log(f"predictor: shard(s) {failed} of {jobs} failed; the fit measures what they left")
    return failed


__all__ = ["measure_in_processes", "measure_shard"]
