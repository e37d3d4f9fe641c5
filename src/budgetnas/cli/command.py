"""What every command's parser shares: :func:`add_command` adds a sub-command with its
configuration's flags (:func:`budgetnas.config.add_arguments`), ``--config FILE.toml`` and
``--debug``, so that a command module only names its help and its own few flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["add_command"]


def add_command(
    subparsers,
    name: str,
    *,
    help: str,
    description: str,
    func: Callable[[argparse.Namespace], int],
    config: type | None = None,
    flags: Callable[[argparse.ArgumentParser], None] | None = None,
    **arguments: Any,
) -> argparse.ArgumentParser:
    """The sub-command ``name``: ``flags(parser)`` adds the command's own flags first, then the
    fields of ``config`` (``arguments``: ``rename``, ``skip``, ``required``, ``defaults`` of
    :func:`~budgetnas.config.add_arguments`) with ``--config``, then ``--debug``."""
    from budgetnas.config import add_arguments, add_config_option

    p = subparsers.add_parser(name, help=help, description=description)
    if flags is not None:
        flags(p)
    if config is not None:
        add_config_option(p)
        add_arguments(p, config, **arguments)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=func)
    return p
