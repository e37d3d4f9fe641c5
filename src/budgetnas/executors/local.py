"""This machine: the calling process alone, or a pool of ``spawn`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from budgetnas.executors.base import Executor, TaskFailed


class LocalExecutor(Executor):
    """``workers`` processes on this machine (one worker: this process, no pool). A task whose
    process dies breaks the pool; the pool is started again and the unfinished tasks rerun."""

    name = "local"

    def __init__(self, workers: int = 1, retries: int = 2):
        super().__init__(workers, retries)
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        return self._pool

    def map(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        tasks = list(tasks)
        if self.workers == 1:
            yield from _serial(fn, tasks, self.retries)
            return
        tries = [0] * len(tasks)
        pending = list(range(len(tasks)))
        while pending:  # one round per pool: what failed in it runs again in the next
            pool = self._pool or self._new_pool()
            futures = {pool.submit(fn, *tasks[i]): i for i in pending}
            pending, broken = [], False
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    result = fut.result()
                except Exception as err:  # the task's error, or its pool's death
                    broken = broken or isinstance(err, BrokenProcessPool)
                    _count(tries, i, self.retries, err)
                    pending.append(i)
                    continue
                yield i, result
            if broken:  # every task the dead pool held counts one try and runs again
                self._new_pool()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _count(tries: list[int], i: int, retries: int, err: BaseException) -> None:
    tries[i] += 1
    if tries[i] > retries:
        raise TaskFailed(i, f"{type(err).__name__}: {err}") from err


def _serial(fn: Callable, tasks: list[tuple], retries: int) -> Iterator[tuple[int, Any]]:
    for i, t in enumerate(tasks):
        for attempt in range(retries + 1):
            try:
                result = fn(*t)
                break
            except Exception as err:
                if attempt == retries:
                    raise TaskFailed(i, f"{type(err).__name__}: {err}") from err
        yield i, result


__all__ = ["LocalExecutor"]
