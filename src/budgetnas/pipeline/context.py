"""The state one run of the pipeline shares between its stages: :class:`RunContext`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from budgetnas.pipeline.config import RunConfig

__all__ = ["RunContext"]


class RunContext:
    """A run directory with its configuration, store, log and stage timings.

    ``trained`` is set by the supernet stage (:func:`budgetnas.pipeline.stages.supernet_stage`);
    the later stages read it. Every attribute is set here, so a stage can be called on its own.
    """

    def __init__(self, cfg: RunConfig, out: str | Path, log: Callable[[str], None] | None = None):
        from budgetnas.store import Store

        self.cfg = cfg
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = log or self.default_log
        self.store = Store(self.out / "store.sqlite")
        self.times: dict[str, float] = {}
        self.trained = None  # TrainedSupernet, once the supernet stage has run
        self._cache: dict[str, Any] = {}

    @staticmethod
    def default_log(msg: str) -> None:
        print(msg, file=sys.stderr)

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, its wall time added to ``times[name]``."""
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t

    def once(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` the first time ``key`` is asked, the same object afterwards (evaluators,
        test batches and the distillation teacher are built once per run)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def supernet(self):
        if self.trained is None:
            raise RuntimeError("the supernet stage has not run: no trained supernet yet")
        return self.trained
