"""The ``budgetnas`` command: each module in this package with a ``register(subparsers)`` function
adds its own sub-command, so a new command is a new file and nothing else."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import budgetnas

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="budgetnas",
        description="Find the most accurate network that provably fits hard deployment budgets.",
    )
    parser.add_argument("--version", action="version", version=f"budgetnas {budgetnas.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    package = importlib.import_module("budgetnas.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"budgetnas.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; completed work is kept in the run's store", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError) as err:
        if getattr(args, "debug", False):
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"budgetnas {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
