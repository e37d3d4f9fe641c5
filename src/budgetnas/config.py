"""Typed configurations: dataclasses in, command-line flags and TOML files out and back.

A configuration is a (possibly nested) dataclass whose fields carry their help text
(:func:`option`). From it, :func:`add_arguments` makes the command's flags, :func:`load_toml` and
:func:`to_toml` read and write the same settings as a file, and :func:`resolve` puts the layers
together: the dataclass defaults, a preset, a TOML file, then the flags given on the command line.

Nested dataclasses are TOML tables (``[train]``); on the command line every field is one flag named
after it (``--epochs-a``), so field names must be unique across the tree. ``None`` is written as
the string ``"none"`` where the field's default is not ``None`` (TOML has no null), and ``none``
is accepted for such fields on the command line too.

Example:
    >>> from budgetnas.training.config import TrainConfig
    >>> cfg = resolve(TrainConfig, {"epochs_a": 2}, {"lr_a": "0.05"})
    >>> cfg.epochs_a, cfg.lr_a
    (2, 0.05)
    >>> from_dict(TrainConfig, load_toml_text(to_toml(cfg))) == cfg
    True
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "add_arguments",
    "add_config_option",
    "config_from_args",
    "flat_fields",
    "flat_values",
    "from_dict",
    "load_toml",
    "load_toml_text",
    "option",
    "overrides_from_args",
    "resolve",
    "to_dict",
    "to_toml",
    "update",
]

_NONE = "none"


def option(
    default: Any,
    help: str,
    *,
    choices: tuple | None = None,
    flag: str | None = None,
    sep: str | None = None,
):
    """A dataclass field with its command-line help (``choices``: allowed values; ``flag``: the
    flag's name when it is not the field's; ``sep``: a list field also splits each flag value on
    this separator, as in ``--solvers milp,random``)."""
    meta = {"help": help, "choices": choices, "flag": flag, "sep": sep}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(tp) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(tp, False)``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _is_config(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def flat_fields(cls, path: tuple[str, ...] = ()) -> dict[str, tuple[tuple[str, ...], Any, Any]]:
    """Every leaf field of a nested configuration: ``{name: (path, type, field)}``.

    Raises ValueError when two leaves share a name (their flags would collide)."""
    out: dict[str, tuple[tuple[str, ...], Any, Any]] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_config(tp):
            for name, leaf in flat_fields(tp, (*path, f.name)).items():
                if name in out:
                    raise ValueError(f"{cls.__name__}: the setting {name!r} appears twice")
                out[name] = leaf
        else:
            if f.name in out:
                raise ValueError(f"{cls.__name__}: the setting {f.name!r} appears twice")
            out[f.name] = ((*path, f.name), tp, f)
    return out


def flat_values(cfg) -> dict[str, Any]:
    """Every leaf setting of a (nested) configuration by its flat name: ``{"epochs_a": 2, ...}``."""
    out: dict[str, Any] = {}
    for name, (path, _tp, _f) in flat_fields(type(cfg)).items():
        value = cfg
        for part in path:
            value = getattr(value, part)
        out[name] = value
    return out


def _convert(name: str, tp, value: Any, sep: str | None = None) -> Any:
    """``value`` (from TOML or a flag) as the field's type, with a clear error."""
    base, optional = _split_optional(tp)
    if value is None or (optional and value == _NONE and base is not str):
        if not optional:
            raise ValueError(f"setting {name!r} cannot be none")
        return None
    origin = typing.get_origin(base)
    try:
        if origin is list:
            (item,) = typing.get_args(base) or (str,)
            if isinstance(value, str | int | float):
                value = [value]
            if sep:
                value = [p.strip() for v in value for p in str(v).split(sep) if p.strip()]
            return [item(v) for v in value]
        if base is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return True
                if value.lower() in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if base is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except (TypeError, ValueError):
        raise ValueError(
            f"setting {name!r}: {value!r} is not a valid {getattr(base, '__name__', base)}"
        ) from None
    return value


def _check_choice(name: str, f, value: Any) -> None:
    choices = f.metadata.get("choices")
    if choices and value is not None and value not in choices:
        raise ValueError(
            f"setting {name!r}: {value!r} is not one of {', '.join(map(str, choices))}"
        )


def update(cfg, values: Mapping[str, Any]):
    """A copy of ``cfg`` with ``values`` set: flat names (``epochs_a``) or nested tables
    (``{"train": {"epochs_a": 2}}``), converted to the fields' types. Unknown names are errors."""
    cls = type(cfg)
    leaves = flat_fields(cls)
    hints = _hints(cls)
    changes: dict[str, Any] = {}
    nested: dict[str, dict] = {}
    for key, value in values.items():
        if key in hints and _is_config(hints[key]):
            if not isinstance(value, Mapping):
                raise ValueError(f"setting {key!r} is a table of settings, got {value!r}")
            nested.setdefault(key, {}).update(value)
        elif key in leaves:
            path, tp, f = leaves[key]
            converted = _convert(key, tp, value, f.metadata.get("sep"))
            _check_choice(key, f, converted)
            if len(path) == 1:
                changes[key] = converted
            else:
                nested.setdefault(path[0], {})[key] = converted
        else:
            raise ValueError(
                f"unknown setting {key!r} for {cls.__name__}; known: {', '.join(sorted(leaves))}"
            )
    for key, sub in nested.items():
        changes[key] = update(getattr(cfg, key), sub)
    return dataclasses.replace(cfg, **changes)


def from_dict(cls, data: Mapping[str, Any]):
    """The configuration ``cls`` from its defaults and ``data`` (as :func:`update`)."""
    return update(cls(), data)


def to_dict(cfg, *, omit_none: bool = True) -> dict[str, Any]:
    """Nested plain values of ``cfg``, ready for TOML: ``None`` left out where the default is
    ``None``, written ``"none"`` where it is not."""
    out: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            tables[f.name] = to_dict(value, omit_none=omit_none)
        elif value is None:
            default = f.default if f.default is not dataclasses.MISSING else None
            if default is not None:
                out[f.name] = _NONE
            elif not omit_none:
                out[f.name] = None
        else:
            out[f.name] = value
    return {**out, **tables}


def to_toml(cfg) -> str:
    """``cfg`` as TOML text (:func:`load_toml_text` reads it back to the same values)."""
    import tomli_w

    return tomli_w.dumps(to_dict(cfg))


def load_toml_text(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def load_toml(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML file, with the file named in every error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    try:
        return load_toml_text(path.read_text())
    except Exception as exc:  # tomllib.TOMLDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is not a valid TOML file: {exc}") from None


def resolve(cls, *layers: Mapping[str, Any] | None):
    """``cls`` with each layer of settings applied in turn (later layers win): for example a
    preset, then a TOML file, then the flags given."""
    cfg = cls()
    for layer in layers:
        if layer:
            cfg = update(cfg, layer)
    return cfg


def add_arguments(
    parser: argparse.ArgumentParser,
    cls,
    *,
    skip: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> None:
    """One flag per leaf field of ``cls`` (``--epochs-a``), with the field's help and its default
    in the help text (``rename``: other flag names for some fields, ``{"heldout":
    "predictor-subset"}``; ``skip``: fields without a flag; ``defaults``: the command's own
    defaults where they differ from the dataclass's, for the help text). Flags default to "not
    given", so that :func:`overrides_from_args` returns only what the user wrote. ``list`` fields
    are repeatable flags (``--budget A --budget B`` for a field ``budgets``: the flag drops a final
    ``s``, unless the field has a separator)."""
    defaults_shown = {**flat_values(cls()), **(defaults or {})}
    for name, (_path, tp, f) in flat_fields(cls).items():
        if name in skip:
            continue
        base, optional = _split_optional(tp)
        default = defaults_shown[name]
        flag = (rename or {}).get(name) or f.metadata.get("flag") or name
        help_text = f.metadata.get("help") or ""
        kw: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if typing.get_origin(base) is list:
            # one value a flag (--budget A --budget B) drops a plural's "s"; a list with a
            # separator keeps its name (--solvers milp,random)
            explicit = (rename or {}).get(name) or f.metadata.get("flag") or f.metadata.get("sep")
            flag = flag[:-1] if flag.endswith("s") and not explicit else flag
            kw.update(action="append", metavar=flag.upper().replace("-", "_"))
        elif base is bool:
            kw.update(action=argparse.BooleanOptionalAction)
        else:
            if f.metadata.get("choices"):
                kw["choices"] = f.metadata["choices"]
            kw["metavar"] = name.upper() if not kw.get("choices") else None
            if kw["metavar"] is None:
                del kw["metavar"]
            kw["type"] = str if optional else {int: int, float: float}.get(base, str)
        shown = _NONE if default is None else default
        if not (typing.get_origin(base) is list and not default):
            help_text = f"{help_text} (default: {shown})" if help_text else f"(default: {shown})"
        kw["help"] = help_text.replace("%", "%%")
        if name in required:
            kw["required"] = True
        parser.add_argument("--" + flag.replace("_", "-"), **kw)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE.toml``: settings from a file, under the flags given."""
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="settings from a TOML file (the flags given override it); the config.toml an "
        "earlier run wrote repeats it",
    )


def config_from_args(cls, args: argparse.Namespace, *layers: Mapping[str, Any] | None):
    """``cls`` from ``layers`` (for example the command's own defaults), then the file of
    ``--config`` (when the parser has that option), then the flags given."""
    path = getattr(args, "config", None)
    return resolve(cls, *layers, load_toml(path) if path else None, overrides_from_args(args, cls))


def overrides_from_args(args: argparse.Namespace, cls) -> dict[str, Any]:
    """The settings of ``cls`` the user gave as flags (``{name: value}``), ready for
    :func:`update`."""
    given = vars(args)
    return {name: given[name] for name in flat_fields(cls) if name in given}
