"""``budgetnas bench ...``: one sub-command per registered benchmark (:mod:`budgetnas.bench._base`).

A benchmark named ``"nb201"`` is ``budgetnas bench nb201``; one named ``"supernet ranking"`` is
``budgetnas bench supernet ranking`` (the words before the last are groups of sub-commands). Each
sub-command has one flag per field of the benchmark's configuration dataclass
(:func:`budgetnas.config.add_arguments`: ``--finetune-steps`` for ``finetune_steps``, the field's
``flag`` where it names another) and ``--config FILE.toml``; the settings are the dataclass
defaults, then the file, then the flags given. The command runs the benchmark, prints its summary
and exits with its exit code.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterable

__all__ = ["add_benchmarks", "register", "run_benchmark"]

# attributes of the parsed arguments that belong to the command, not to a configuration
_RESERVED = {"command", "func", "debug", "config", "_bench"}


def register(subparsers) -> None:
    from budgetnas.bench._base import list_benchmarks

    parser = subparsers.add_parser("bench", help="run a reproducible benchmark")
    add_benchmarks(parser, list_benchmarks())


def _tree(benchmarks: Iterable) -> dict:
    """``{word: benchmark or sub-tree}`` from the names' words."""
    tree: dict = {}
    for bench in benchmarks:
        *groups, last = bench.name.split()
        node = tree
        for word in groups:
            node = node.setdefault(word, {})
            if not isinstance(node, dict):
                raise ValueError(f"benchmark {word!r} is also a group of {bench.name!r}")
        if last in node:
            raise ValueError(f"benchmark {bench.name!r} is also a group of benchmarks")
        node[last] = bench
    return tree


def add_benchmarks(parser: argparse.ArgumentParser, benchmarks: Iterable, depth: int = 0) -> None:
    """The sub-commands of ``benchmarks`` under ``parser`` (groups nest)."""
    tree = benchmarks if isinstance(benchmarks, dict) else _tree(benchmarks)
    sub = parser.add_subparsers(dest=f"_bench{depth}", metavar="BENCH", required=True)
    for word, node in sorted(tree.items()):
        if isinstance(node, dict):
            group = sub.add_parser(word, help=f"{word} benchmarks: {', '.join(sorted(node))}")
            add_benchmarks(group, node, depth + 1)
        else:
            _add_benchmark(sub, word, node)


def _add_benchmark(sub, word: str, bench) -> None:
    from budgetnas.config import add_arguments, add_config_option, flat_fields

    clash = _RESERVED & set(flat_fields(bench.config))
    if clash:
        raise ValueError(f"benchmark {bench.name!r}: settings {sorted(clash)} are reserved")
    p = sub.add_parser(word, help=bench.help, description=bench.help)
    add_config_option(p)
    add_arguments(p, bench.config)
    flags = {}
    for action in p._actions:  # a required setting says so instead of its empty default
        if action.dest in bench.required:
            action.help = f"{(action.help or '').split(' (default:')[0]} (required)"
            flags[action.dest] = action.option_strings[0]
    p.set_defaults(func=functools.partial(run_benchmark, bench, flags=flags))


def _missing(bench, cfg, flags: dict[str, str]) -> list[str]:
    """The flags of the required settings that are still empty."""
    from budgetnas.config import flat_values

    values = flat_values(cfg)
    return [flags.get(n, n) for n in bench.required if values[n] is None or values[n] in ([], "")]


def run_benchmark(bench, args: argparse.Namespace, flags: dict[str, str] | None = None) -> int:
    """Resolve the configuration (defaults, ``--config`` file, flags), run, print the summary."""
    from budgetnas.config import config_from_args

    cfg = config_from_args(bench.config, args)
    missing = _missing(bench, cfg, flags or {})
    if missing:
        raise ValueError(f"the following settings are required: {', '.join(missing)}")
    result = bench.run(cfg)
    if bench.summary is not None:
        print(bench.summary(result), flush=True)
    return int(bench.exit_code(result)) if bench.exit_code is not None else 0
