"""The predictor's supernet evaluations on an executor (docs/methods/executors.md: the 1 + 255
expectations and the report's subnets are embarrassingly parallel).

The caller works out which evaluations its store lacks; each task measures one shard
``(i, n)`` (items ``i, i + n, ...``) of them on a worker, which builds its evaluators once from
``setup`` (a picklable callable, :func:`~budgetnas.predictors.fit.setup_worker` by default,
returning ``(evaluator, subnet evaluator, store)``; the store it returns is not used) and
returns the new records. Only the caller writes them into its store: no file is shared between
workers, so they can be other machines (Ray), and a rerun measures only what is still missing.
A record depends only on its key (the evaluators seed every expectation and subnet from it), so
the records are the same, bit for bit, whatever the number of workers or the order they finish.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence

from budgetnas.predictors.binas import (
    STORE_KIND,
    expectation_key,
    expectations,
    measure_expectations,
)
from budgetnas.predictors.quality import SUBNET_KIND, random_subnet_accuracies

Setup = Callable[[], tuple]


class _Recorder:
    """The store a task measures into: ``known`` keys read as present (their values unused),
    every record put is kept in ``new`` for the caller."""

    def __init__(self, known: frozenset):
        self.known, self.new = known, []

    def get(self, kind: str, key: str):
        return {"acc": 0.0} if (kind, key) in self.known else None

    def put(self, kind: str, key: str, rec: dict) -> None:
        self.new.append((kind, key, rec))


def measure_task(
    setup: Setup, shard: tuple[int, int], subnets: Sequence[tuple[int, int]], known: frozenset
) -> list[tuple[str, str, dict]]:
    """One task: the records of shard ``shard`` not in ``known`` (``(kind, key)`` pairs), as
    ``(kind, key, record)``. The evaluators are built once per worker process and setup."""
    from budgetnas.executors.base import built_once

    ev, sub_ev, _ = built_once(pickle.dumps(setup), setup)
    rec = _Recorder(known)
    measure_expectations(ev, rec, shard=shard)
    for count, seed in subnets:
        random_subnet_accuracies(sub_ev, count, seed=seed, store=rec, shard=shard)
    return rec.new


def evaluation_keys(ev, sub_ev, subnets: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
    """Every ``(kind, key)`` the fit and its report read: the expectations of ``ev`` and the
    subnets of each ``(count, seed)`` set on ``sub_ev``."""
    from budgetnas.predictors.quality import random_subnets, subnet_key

    fp = ev.fingerprint()
    keys = [(STORE_KIND, expectation_key(fp, key)) for key, _ in expectations(ev.space)]
    if subnets and sub_ev is not None:
        sfp = sub_ev.fingerprint(sampling=False)
        for count, seed in subnets:
            for arch in random_subnets(sub_ev.space, count, seed):
                keys.append((SUBNET_KIND, subnet_key(sfp, sub_ev.space, arch)))
    return keys


def _print(msg: str) -> None:
    import sys

    print(msg, file=sys.stderr)


def measure_on_executor(
    setup: Setup,
    executor,
    store,
    local: tuple,
    subnets: Sequence[tuple[int, int]] = (),
    log: Callable[[str], None] = _print,
    tasks_per_worker: int = 4,
) -> int:
    """Measure what ``store`` lacks of the evaluations of ``local`` (this process's ``(evaluator,
    subnet evaluator)``) on ``executor``, writing every returned record into ``store`` as it
    arrives (a crash keeps what came back). Returns the number of records written; nothing is
    started when the store holds everything."""
    from tqdm import tqdm

    ev, sub_ev = local[:2]
    keys = evaluation_keys(ev, sub_ev, subnets)
    known = frozenset(k for k in keys if store.get(*k) is not None)
    missing = len(keys) - len(known)
    if missing == 0:
        return 0
    n = max(1, min(missing, executor.workers * tasks_per_worker))
    log(f"predictor: measuring {missing} evaluations in {n} tasks on {executor.describe()}")
    tasks = [(setup, (i, n), list(subnets), known) for i in range(n)]
    written = 0
    with tqdm(total=missing, desc="predictor evaluations", leave=False, disable=None) as bar:
        for _, records in executor.map(measure_task, tasks):
            for kind, key, rec in records:
                store.put(kind, key, rec)
            written += len(records)
            bar.update(len(records))
    return written


__all__ = ["evaluation_keys", "measure_on_executor", "measure_task"]
