"""A training folder that already holds a training: continue it (``--resume``) or start over
(``--fresh``), never overwrite it silently. Importing it needs no torch.

:func:`resume_settings` makes the settings saved in the folder (``config.json``, written by the
trainer, or ``config.toml``) the base layer of a resumed training, with the settings given on top;
a given setting that changes the saved one is refused with the setting named.
:func:`check_out` refuses to train into a started folder without ``resume`` or ``fresh``, and with
``fresh`` moves the earlier training's files aside into ``OUT/previous-N/``.

Example:
    >>> import tempfile, json
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> saved = {"train": {"data": "synthetic", "preset": "tiny"}}
    >>> _ = (out / "config.json").write_text(json.dumps(saved))
    >>> resume_settings(out, {"preset": "tiny", "seed": 0})
    {'data': 'synthetic', 'preset': 'tiny', 'seed': 0}
    >>> resume_settings(out, {"seed": 1})
    Traceback (most recent call last):
    ...
    ValueError: cannot resume the training in ... with other settings: seed (saved 0, given 1); ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["TRAINING_FILES", "check_out", "resume_settings", "saved_settings", "started"]

#: the files a training writes into its folder (moved aside together by ``fresh``)
TRAINING_FILES = ("supernet.pt", "log.jsonl", "config.json", "config.toml")


def saved_settings(out: str | Path) -> dict[str, Any] | None:
    """The training settings saved in ``out`` (``config.json``'s ``train``, else the ``[train]``
    table or the top level of ``config.toml``); None when the folder holds neither."""
    from budgetnas.config import load_toml

    out = Path(out)
    if (out / "config.json").is_file():
        try:
            data = json.loads((out / "config.json").read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{out / 'config.json'} is not valid JSON ({exc}); start over with --fresh"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("train"), dict):
            raise ValueError(f"{out / 'config.json'} holds no training settings ('train' table)")
        return data["train"]
    if (out / "config.toml").is_file():
        data = load_toml(out / "config.toml")
        return data.get("train", data)
    return None


def resume_settings(out: str | Path, given: dict[str, Any]) -> dict[str, Any]:
    """The settings of a resumed training in ``out``: the saved ones, with ``given`` on top.

    Raises ``ValueError`` naming every given setting that differs from the saved one (resuming
    with other settings would not continue the same training), except the device: a training
    continues on any device (its checkpoint holds CPU tensors)."""
    from budgetnas.config import resolve
    from budgetnas.training.config import TrainConfig

    saved = saved_settings(out)
    if saved is None:
        return dict(given)
    before = resolve(TrainConfig, saved)
    after = resolve(TrainConfig, {**saved, **given})
    changed = [
        f"{name} (saved {getattr(before, name)!r}, given {getattr(after, name)!r})"
        for name in TrainConfig.__dataclass_fields__
        if name != "device" and getattr(before, name) != getattr(after, name)
    ]
    if changed:
        raise ValueError(
            f"cannot resume the training in {out} with other settings: {', '.join(changed)}; "
            "drop those flags to continue it with its saved settings, or pass --fresh (instead "
            "of --resume) to start over with them"
        )
    return {**saved, **given}


def started(out: str | Path) -> bool:
    """Whether ``out`` holds a started (or finished) training: its checkpoint (a log without one
    records nothing that a resume could continue)."""
    return (Path(out) / "supernet.pt").is_file()


def check_out(out: str | Path, resume: bool, fresh: bool) -> Path | None:
    """Refuse to train into a started folder unless ``resume`` or ``fresh``; with ``fresh``, move
    the earlier training's files into ``OUT/previous-N/`` and return that folder."""
    out = Path(out)
    if resume and fresh:
        raise ValueError("--resume continues the training in OUT, --fresh starts over: give one")
    if resume or not started(out):
        return None
    if not fresh:
        raise ValueError(
            f"{out} already holds a training ({', '.join(_present(out))}): pass --resume to "
            "continue it with its saved settings, or --fresh to start over (the earlier files "
            f"are moved to {out}/previous-N/, nothing is deleted)"
        )
    n = 1
    while (out / f"previous-{n}").exists():
        n += 1
    aside = out / f"previous-{n}"
    aside.mkdir()
    for name in _present(out):
        (out / name).rename(aside / name)
    return aside


def _present(out: Path) -> list[str]:
    return [name for name in TRAINING_FILES if (out / name).exists()]
