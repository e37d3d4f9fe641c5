"""Ray tasks: a local Ray started for the executor, or a running cluster (``address``).

Each task asks for one CPU (and ``gpus_per_task`` GPUs); Ray runs a task again when it raises
or its worker dies (``max_retries``, ``retry_exceptions``). Results come back to the caller
through Ray's object store; nothing is written on the workers' machines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from budgetnas.executors.base import Executor, TaskFailed


def _ray():
    try:
        import ray
    except ImportError as err:  # pragma: no cover - the extra is installed where tests run
        raise ValueError(
            "--executor ray needs Ray: pip install 'budgetnas[ray]' (or pip install ray)"
        ) from err
    return ray


class RayExecutor(Executor):
    """``workers`` tasks at a time on Ray. Without ``address`` a local Ray starts with
    ``workers`` CPUs and stops on :meth:`close`; with one, the cluster at that address is joined
    (and left running)."""

    name = "ray"

    def __init__(
        self,
        workers: int = 1,
        address: str | None = None,
        retries: int = 2,
        gpus_per_task: float = 0.0,
    ):
        super().__init__(workers, retries)
        ray = _ray()
        self.address, self.gpus_per_task = address, float(gpus_per_task)
        self._started = False
        if not ray.is_initialized():
            kwargs: dict = {"include_dashboard": False, "log_to_driver": False}
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=self.workers, **kwargs)
                self._started = True

    def map(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        ray = _ray()
        remote = ray.remote(
            num_cpus=1,
            num_gpus=self.gpus_per_task,
            max_retries=self.retries,
            retry_exceptions=True,
        )(_call)
        fn_ref = ray.put(fn)  # sent once; a callable object (not only a function) is a task too
        tasks = list(tasks)
        waiting = list(range(len(tasks)))[::-1]  # submitted in order, `workers` at a time
        running: dict = {}
        while waiting or running:
            while waiting and len(running) < self.workers:
                i = waiting.pop()
                running[remote.remote(fn_ref, *tasks[i])] = i
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                i = running.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError) as err:
                    raise TaskFailed(i, str(err).splitlines()[0]) from err
                yield i, result

    def describe(self) -> str:
        where = self.address or "a local Ray on this machine"
        gpus = f", {self.gpus_per_task:g} GPU(s) per task" if self.gpus_per_task else ""
        return f"ray ({where}), {self.workers} task(s) at a time{gpus}"

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
            self._started = False


def _call(fn: Callable, *args) -> Any:
    """A task's body on a Ray worker: ``fn(*args)``."""
    return fn(*args)


__all__ = ["RayExecutor"]
