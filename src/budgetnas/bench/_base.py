"""Benchmarks as library functions: each one a typed configuration in and a result out.

A benchmark module registers its entry points with :func:`register_benchmark`; ``budgetnas bench
NAME`` builds one sub-command per registered name (``"supernet ranking"`` is the sub-command
``bench supernet ranking``) with flags generated from the configuration's fields
(:mod:`budgetnas.config`), calls ``run(cfg)``, prints ``summary(result)`` and exits with
``exit_code(result)`` (0 when the benchmark gives no such function). Settings named in
``required`` must be given, as a flag or in the ``--config`` file.

Example:
    >>> from dataclasses import dataclass
    >>> from budgetnas.config import option
    >>> @dataclass
    ... class EchoConfig:
    ...     text: str = option("hi", "what to echo")
    >>> bench = Benchmark("echo", "repeat a text", EchoConfig, lambda cfg: cfg.text * 2)
    >>> bench.run(EchoConfig())
    'hihi'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from budgetnas.registry import Registry

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "json_text",
    "list_benchmarks",
    "register_benchmark",
    "written_json",
]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its name (words separated by spaces for nested sub-commands), one line of
    help, the configuration dataclass, the function that runs it, the text printed after, the
    command's exit status from the result, and the settings that have no usable default."""

    name: str
    help: str
    config: type
    run: Callable[[Any], Any]
    summary: Callable[[Any], str] | None = None
    exit_code: Callable[[Any], int] | None = None
    required: tuple[str, ...] = ()


BENCHMARKS: Registry = Registry(
    "benchmark",
    modules=[
        "budgetnas.bench.nb201",
        "budgetnas.bench.milp",
        "budgetnas.bench.lut",
        "budgetnas.bench.pruning",
        "budgetnas.bench.supernet",
        "budgetnas.bench.throughput",
        "budgetnas.bench.baselines",
        "budgetnas.bench.data",
        "budgetnas.bench.executors",
    ],
)


def json_text(result: dict) -> str:
    """A benchmark's result as indented JSON (the summary most benchmarks print)."""
    return json.dumps(result, indent=2)


def written_json(result: dict, path: str | None) -> dict:
    """``result``, also written to ``path`` as JSON when one is given (``--json FILE``)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json_text(result) + "\n")
    return result


def register_benchmark(
    name: str,
    help: str,
    config: type,
    summary: Callable[[Any], str] | None = None,
    *,
    exit_code: Callable[[Any], int] | None = None,
    required: tuple[str, ...] = (),
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorate ``run(cfg) -> result`` to register it as benchmark ``name``.

    A module run as a script (``python -m budgetnas.bench.supernet``) does not register: its
    benchmarks are registered when the command imports the module under its own name."""

    def deco(run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if run.__module__ == "__main__":
            return run
        bench = Benchmark(name, help, config, run, summary, exit_code, tuple(required))
        BENCHMARKS.register(name)(lambda: bench)
        return run

    return deco


def list_benchmarks() -> list[Benchmark]:
    """Every registered benchmark, by name."""
    return [BENCHMARKS.create(name) for name in BENCHMARKS.names()]
