"""The executor interface and the factory that builds one by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

EXECUTORS = ("local", "ray")


class TaskFailed(RuntimeError):
    """A task still failed after its retries; ``index`` is its position in the task list."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"task {index} failed after its retries: {reason}")
        self.index = index


class Executor(ABC):
    """Runs ``fn(*args)`` for every ``args`` of a task list on ``workers`` workers.

    Use as a context manager (``with get_executor(...) as ex``): :meth:`close` frees the
    workers. ``retries``: how many times a failed task (an exception, a worker that died) is run
    again before :class:`TaskFailed`.
    """

    name: str = ""

    def __init__(self, workers: int = 1, retries: int = 2):
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if int(retries) < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        self.workers, self.retries = int(workers), int(retries)

    @abstractmethod
    def map(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """``(index, fn(*tasks[index]))`` for every task, in the order they finish."""

    def close(self) -> None:  # noqa: B027 - most executors hold nothing to free
        """Free the workers (nothing to free by default)."""

    def describe(self) -> str:
        """Where the tasks run, in words (logged and kept with results)."""
        return f"{self.name}, {self.workers} worker(s)"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ray_address_option():
    """The ``ray_address`` setting (``--ray-address``) of a configuration run on an executor."""
    from budgetnas.config import option

    return option(
        None, "address of a running Ray cluster for --executor ray (none: start one here)"
    )


def ray_gpus_option():
    """The ``ray_gpus`` setting (``--ray-gpus``) of a configuration run on an executor."""
    from budgetnas.config import option

    return option(
        0.0, "GPUs each Ray task asks for with --executor ray (1 on a GPU cluster; 0: CPU only)"
    )


def check_executor_settings(cfg, device: str | None = None) -> None:
    """Refuse a configuration's ``jobs``, ``executor``, ``ray_address`` and ``ray_gpus`` that
    cannot work, before any work (the flags ``--jobs``, ``--executor``, ``--ray-address`` and
    ``--ray-gpus``); ``device``: where the tasks compute (default: the configuration's own
    ``device``, when it has one)."""
    if cfg.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {cfg.jobs}")
    if cfg.executor not in EXECUTORS:
        raise ValueError(f"unknown --executor {cfg.executor!r}; choose {' or '.join(EXECUTORS)}")
    if cfg.ray_address and cfg.executor != "ray":
        raise ValueError("--ray-address needs --executor ray")
    gpus = float(getattr(cfg, "ray_gpus", 0.0))
    if gpus < 0:
        raise ValueError(f"--ray-gpus must be 0 or more, got {gpus:g}")
    if gpus and cfg.executor != "ray":
        raise ValueError(
            "--ray-gpus needs --executor ray (local workers share this machine's GPUs)"
        )
    device = str(device or getattr(cfg, "device", None) or "")
    if cfg.executor == "ray" and device.startswith("cuda") and not gpus:
        raise ValueError(
            f"--device {device} with --executor ray: give each task a GPU (--ray-gpus 1, or a "
            "share such as 0.5); Ray hides the GPUs from tasks that ask for none"
        )


def uses_executor(cfg) -> bool:
    """Whether a configuration's work goes to an executor: more than one ``jobs``, or Ray."""
    return cfg.jobs > 1 or cfg.executor == "ray"


def worker_threads(executor: str, jobs: int) -> int:
    """Torch threads of each worker: one per Ray task (Ray counts a task as one CPU), this
    process's threads shared out among ``jobs`` local workers."""
    import torch

    return 1 if executor == "ray" else max(1, torch.get_num_threads() // jobs)


_BUILT: dict = {}  # per worker process: what built_once built, by key


def built_once(key, build: Callable[[], Any]) -> Any:
    """``build()`` the first time a worker process sees ``key`` (hashable), the same object for
    the worker's later tasks: what a task sets up (evaluators, an opened run, a table) is paid
    once per worker, not once per task."""
    if key not in _BUILT:
        _BUILT[key] = build()
    return _BUILT[key]


def executor_from(cfg, workers: int | None = None) -> Executor:
    """The executor of a configuration's ``executor``, ``jobs`` (or ``workers``),
    ``ray_address`` and ``ray_gpus`` (GPUs per Ray task; 0 when it has no such setting)."""
    return get_executor(
        cfg.executor,
        cfg.jobs if workers is None else workers,
        address=cfg.ray_address,
        gpus_per_task=float(getattr(cfg, "ray_gpus", 0.0)),
    )


def get_executor(
    name: str = "local",
    workers: int = 1,
    *,
    address: str | None = None,
    retries: int = 2,
    gpus_per_task: float = 0.0,
) -> Executor:
    """The executor ``name`` (one of :data:`EXECUTORS`). ``address`` (Ray only): a running
    cluster's address, else a local Ray starts with ``workers`` CPUs; ``gpus_per_task`` (Ray
    only): GPUs each task asks for."""
    if name == "local":
        if address:
            raise ValueError("--ray-address needs --executor ray")
        from budgetnas.executors.local import LocalExecutor

        return LocalExecutor(workers, retries=retries)
    if name == "ray":
        from budgetnas.executors.ray import RayExecutor

        return RayExecutor(workers, address=address, retries=retries, gpus_per_task=gpus_per_task)
    raise ValueError(f"unknown executor {name!r}; choose {' or '.join(EXECUTORS)}")


__all__ = [
    "EXECUTORS",
    "Executor",
    "TaskFailed",
    "built_once",
    "check_executor_settings",
    "executor_from",
    "get_executor",
    "ray_address_option",
    "ray_gpus_option",
    "uses_executor",
    "worker_threads",
]
