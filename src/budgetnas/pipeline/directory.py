"""A run directory as a guarded product: :class:`RunDirectory`.

* A marker file (``.budgetnas-run``) says that a folder is a budgetnas run directory. A run into a
  folder that is not empty and holds no marker is refused (``--force`` adopts it), so a run never
  overwrites someone's own ``model.pt`` or ``results.json``. Folders written before the marker
  existed (they hold ``config.toml`` or ``run_config.json``, and ``supernet/`` or ``store.sqlite``)
  are adopted as they are.
* One process at a time: the run holds an exclusive lock on ``.budgetnas-run.lock`` while it
  works; a second one is refused with the first one's process id.
* Results of another configuration are never shown as current: when a run asks for other settings
  than the folder's ``config.toml`` (another budget, solver, fine-tuning...), the earlier results
  (``result.json``, ``summary.md``, ``model.pt``, ...) are moved to ``previous/<time>/`` before the
  new configuration is written; the supernet and every stored evaluation are reused.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with RunDirectory(out).claimed():
    ...     (out / MARKER).is_file()
    True
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from budgetnas.files import write_text_atomic

__all__ = ["LOCK", "MARKER", "RESULTS", "DirectoryInUseError", "RunDirectory"]

MARKER = ".budgetnas-run"
LOCK = ".budgetnas-run.lock"
#: what describes the current configuration's network: moved aside when the configuration changes
RESULTS = (
    "result.json",
    "arch.txt",
    "summary.md",
    "model.pt",
    "model.onnx",
    "predictor.json",
    "pareto.json",
    "baselines.json",
    "baselines.md",
    "plots",
)
_EARLIER_CONFIGS = ("config.toml", "run_config.json")


class DirectoryInUseError(ValueError):
    """Another process holds the run directory (a ValueError: the command line reports it as an
    error with its message, not a traceback)."""


class RunDirectory:
    """The folder ``out`` of one ``budgetnas run``; see the module doc."""

    def __init__(self, out: str | Path, force: bool = False):
        self.out = Path(out)
        self.force = force

    @contextlib.contextmanager
    def claimed(self) -> Iterator[RunDirectory]:
        """Check (or create) the folder, mark it and hold its lock for the block."""
        self._check_or_create()
        with self._locked():
            yield self

    def _check_or_create(self) -> None:
        out = self.out
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file, not a folder")
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MARKER).is_file():
            if any(out.iterdir()) and not self._earlier_run() and not self.force:
                raise ValueError(
                    f"{out} is not empty and is not a budgetnas run directory (no {MARKER}): a "
                    "run would overwrite files there (result.json, model.pt, summary.md, plots/, "
                    "store.sqlite...); choose another --out, or pass --force to use it anyway"
                )
            info = {"kind": "budgetnas run directory", "created": _now()}
            write_text_atomic(out / MARKER, json.dumps(info) + "\n")

    def _earlier_run(self) -> bool:
        """A run directory written before the marker existed."""
        out = self.out
        has_config = any((out / name).is_file() for name in _EARLIER_CONFIGS)
        return has_config and ((out / "supernet").is_dir() or (out / "store.sqlite").is_file())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: run unguarded
            yield
            return
        path = self.out / LOCK
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise DirectoryInUseError(
                    f"{self.out} is in use by {holder}; wait for it to finish or choose another "
                    "--out"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"PID {os.getpid()} (since {_now()})")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def retire_other_results(self, config_text: str, log) -> Path | None:
        """When the folder's results were made with another configuration than
        ``config_text``, move them (and that configuration) to ``previous/<time>/``; returns
        that folder, or None when there was nothing to move."""
        current = self._current_config()
        if current is None or same_results(current, config_text):
            return None
        moved = [n for n in (*RESULTS, *_EARLIER_CONFIGS) if (self.out / n).exists()]
        if not moved:
            return None
        dest = self.out / "previous" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        while dest.exists():
            dest = dest.with_name(dest.name + "+")
        dest.mkdir(parents=True)
        for name in moved:
            shutil.move(str(self.out / name), str(dest / name))
        log(f"the configuration changed: the earlier results are now in {dest}")
        return dest

    def _current_config(self) -> str | None:
        """The folder's configuration as TOML text (an earlier run_config.json converted)."""
        if (self.out / "config.toml").is_file():
            return (self.out / "config.toml").read_text()
        if (self.out / "run_config.json").is_file():
            from budgetnas.pipeline.config import load_run_config, run_config_toml

            try:
                cfg, preset = load_run_config(self.out / "run_config.json")
            except ValueError:
                return ""  # unreadable: differs from any configuration
            return run_config_toml(cfg, preset)
        return None


#: settings that say where the work runs, not what it computes: a change keeps the results
WHERE_SETTINGS = {"predictor": ("jobs", "executor", "ray_address", "ray_gpus")}


def same_results(old_text: str, new_text: str) -> bool:
    """Whether two run configurations (TOML text) give the same results: equal once the
    :data:`WHERE_SETTINGS` are left out of both."""
    if old_text == new_text:
        return True
    from budgetnas.config import load_toml_text

    try:
        old, new = load_toml_text(old_text), load_toml_text(new_text)
    except ValueError:  # TOMLDecodeError: an unreadable file differs from any configuration
        return False
    for cfg in (old, new):
        for section, keys in WHERE_SETTINGS.items():
            for key in keys:
                if isinstance(cfg.get(section), dict):
                    cfg[section].pop(key, None)
    return old == new


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
