"""What every command's parser shares: :func:`add_command` adds a sub-command with its
configuration's flags (:func:`budgetnas.config.add_arguments`), ``--config FILE.toml`` and
``--debug``, so that a command module only names its help and its own few flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["add_command", "add_supernet_argument"]


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


def add_supernet_argument(parser) -> None:
    """The required ``--supernet`` of a command that opens a trained supernet: a file, a
    training folder or a registered name (:func:`budgetnas.training.trained.supernet_checkpoint`
    accepts all three)."""
    parser.add_argument(
        "--supernet",
        required=True,
        help="supernet.pt from `budgetnas train` (or its folder), or a registered name "
        "(`budgetnas supernet list`)",
    )
