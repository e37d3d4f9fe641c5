"""Where embarrassingly parallel work runs: this process, a local process pool, or Ray.

An :class:`Executor` runs one picklable function on many task arguments and hands the results
back to the caller as they finish; the caller alone writes the run's store, so nothing is
shared between workers but what a task carries and returns (docs/methods/executors.md).

* ``local`` (:class:`LocalExecutor`): ``workers`` processes of this machine (``spawn``), or this
  process alone with one worker;
* ``ray`` (:class:`~budgetnas.executors.ray.RayExecutor`): Ray tasks, on a local Ray started
  for the call or a cluster at ``address``; the optional extra ``budgetnas[ray]``.

A task that raises or whose worker dies is run again, up to ``retries`` times; its result is the
same, since a task's result depends only on its arguments.

Example:
    >>> with get_executor("local", workers=1) as ex:
    ...     sorted(ex.map(pow, [(2, 3), (3, 2)]))
    [(0, 8), (1, 9)]
"""

from __future__ import annotations

from budgetnas.executors.base import EXECUTORS, Executor, TaskFailed, get_executor
from budgetnas.executors.local import LocalExecutor

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "TaskFailed", "get_executor"]
