"""Benchmarks as library functions: each one a typed configuration in and a result out.

A benchmark module registers its entry points with :func:`register_benchmark`; ``budgetnas bench
NAME`` builds one sub-command per registered name (``"supernet ranking"`` is the sub-command
``bench supernet ranking``) with flags generated from the configuration's fields
(:mod:`budgetnas.config`), calls ``run(cfg)`` and prints ``summary(result)``.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from budgetnas.registry import Registry

__all__ = ["BENCHMARKS", "Benchmark", "list_benchmarks", "register_benchmark"]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its name (words separated by spaces for nested sub-commands), one line of
    help, the configuration dataclass, the function that runs it and the text printed after."""

    name: str
    help: str
    config: type
    run: Callable[[Any], Any]
    summary: Callable[[Any], str] | None = None


BENCHMARKS: Registry = Registry(
    "benchmark",
    modules=[
        "budgetnas.bench.nb201",
        "budgetnas.bench.milp",
        "budgetnas.bench.lut",
        "budgetnas.bench.pruning",
        "budgetnas.bench.supernet",
        "budgetnas.bench.baselines",
    ],
)


def register_benchmark(
    name: str, help: str, config: type, summary: Callable[[Any], str] | None = None
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorate ``run(cfg) -> result`` to register it as benchmark ``name``."""

    def deco(run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        bench = Benchmark(name, help, config, run, summary)
        BENCHMARKS.register(name)(lambda: bench)
        return run

    return deco


def list_benchmarks() -> list[Benchmark]:
    """Every registered benchmark, by name."""
    return [BENCHMARKS.create(name) for name in BENCHMARKS.names()]
