"""Trained supernets by name (``--supernet fmnist-small``): a registry of checked files.

``budgetnas supernet list`` shows the registered supernets; ``register`` adds the user's own (a
local ``supernet.pt`` or a URL with its SHA-256); ``pack`` makes a finished training shippable;
every command that takes ``--supernet`` accepts a registered name. The project ships
``fmnist-small`` (its recipe: ``make supernet``), with the predictor's stored evaluations on it,
so that a run on it measures nothing twice. See docs/methods/hub.md.
"""

from __future__ import annotations

import re
from pathlib import Path

from budgetnas.hub.pack import SHIPPED_KINDS, export_records, import_records, pack_supernet
from budgetnas.hub.registry import (
    ENV_HUB,
    SECTIONS,
    ChecksumError,
    HubEntry,
    builtin_registry,
    entries,
    get_entry,
    hub_root,
    is_url,
    read_registry,
    resolve_file,
    sha256_of,
    user_registry,
    write_registry,
)

__all__ = [
    "ENV_HUB",
    "SECTIONS",
    "SHIPPED_KINDS",
    "ChecksumError",
    "HubEntry",
    "builtin_registry",
    "describe",
    "entries",
    "export_records",
    "get_entry",
    "hub_root",
    "import_records",
    "is_name",
    "pack_supernet",
    "read_registry",
    "register_network",
    "resolve_file",
    "resolve_supernet",
    "sha256_of",
    "user_registry",
    "write_registry",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def is_name(text: str) -> bool:
    """Whether ``text`` can be a registered name (lower case, digits, ``.``, ``_``, ``-``)."""
    return bool(_NAME.match(text)) and not text.endswith(".pt")


def resolve_supernet(text: str | Path) -> Path:
    """The local, checked checkpoint that ``text`` names: an existing path as it is, else a
    registered name (downloaded once when its entry has a url; refused on a checksum mismatch)."""
    path = Path(text).expanduser()
    if path.exists():
        return path
    text = str(text)
    if is_url(text):
        raise ValueError(
            f"{text}: register a URL with its checksum first (`budgetnas supernet register NAME "
            f"{text} --sha256 HEX`), then pass the name"
        )
    if not is_name(text):
        raise FileNotFoundError(
            f"no supernet checkpoint at {text}: the path does not exist; train one with "
            "`budgetnas train --out DIR`, or name a registered one (`budgetnas supernet list`)"
        )
    return resolve_file(get_entry(text))


def _summary_of(ckpt: dict) -> tuple[dict, dict]:
    """The final record and the last held-out one-shot accuracies of a supernet checkpoint."""
    last = ckpt["history"][-1] if ckpt.get("history") else {}
    oneshot = {
        k.removeprefix("heldout_acc_"): float(v)
        for k, v in last.items()
        if k.startswith("heldout_acc_")
    }
    return dict(ckpt["result"]), oneshot


def _describe_file(entry: HubEntry, path: Path, section: str) -> None:
    """Fill ``entry`` from the file it registers (read safely); refuse what is not usable."""
    if section == "supernets":
        from budgetnas.training.supernet import read_checkpoint

        ckpt = read_checkpoint(path)
        if "result" not in ckpt:
            raise ValueError(f"{path} is not a finished training (no final result); refused")
        entry.result, entry.oneshot = _summary_of(ckpt)
        entry.data, entry.preset = ckpt["train"]["data"], ckpt["space"]["name"]
    else:
        from budgetnas.models.checkpoint import load_network

        _, info = load_network(path)
        meta = info.get("meta", {})
        entry.result = {k: v for k, v in meta.items() if isinstance(v, int | float | str)}
        entry.data, entry.preset = str(meta.get("data", "")), str(info.get("model") or "")
    entry.size = path.stat().st_size


def _stored_path(path: Path, registry: Path) -> str:
    """``path`` relative to the registry's folder when it lies inside it (a shipped file moves
    with its registry), else absolute."""
    try:
        return str(path.relative_to(registry.resolve().parent))
    except ValueError:
        return str(path)


def register_network(
    name: str,
    source: str | Path,
    sha256: str | None = None,
    description: str = "",
    registry: str | Path | None = None,
    section: str = "supernets",
    records: str | Path | None = None,
    recipe: str = "",
) -> HubEntry:
    """Register the finished supernet training (``section="supernets"``) or baseline checkpoint
    (``"baselines"``) at ``source``, a local file or a URL with its ``sha256``, as ``name`` in
    ``registry`` (default: the user's); returns the entry.

    A local file is registered where it lies, with its checksum (a given ``sha256`` that differs
    is refused); a URL is downloaded into the hub once and checked. ``records``: a file of
    :func:`export_records` that travels with a supernet."""
    if not is_name(name):
        raise ValueError(f"{name!r} is not a name: lower-case letters, digits, '.', '_', '-'")
    registry = Path(registry) if registry is not None else user_registry()
    source = str(source)
    if is_url(source):
        if not sha256:
            raise ValueError(f"{source}: a URL needs --sha256, so that the download is checked")
        entry = HubEntry(name, url=source, sha256=sha256.lower(), registry=str(registry))
        path = resolve_file(entry)
    else:
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file at {path}")
        got = sha256_of(path)
        if sha256 and sha256.lower() != got:
            raise ChecksumError(f"{path} has SHA-256 {got}, not the {sha256} given; refused")
        entry = HubEntry(
            name, file=_stored_path(path, registry), sha256=got, registry=str(registry)
        )
    _describe_file(entry, path, section)
    entry.description, entry.recipe = description, recipe
    if records is not None:
        rec = Path(records).expanduser().resolve()
        if not rec.is_file():
            raise FileNotFoundError(f"no records file at {rec}")
        entry.records, entry.records_sha256 = _stored_path(rec, registry), sha256_of(rec)
    known = read_registry(registry, section)
    known[name] = entry
    write_registry(registry, known, section)
    return entry


def describe(entry: HubEntry) -> str:
    """One line about ``entry`` for ``budgetnas supernet list``."""
    where = entry.url if entry.file is None else entry.local_path()
    keys = ("test_acc_heaviest", "test_accuracy", "test_acc")  # supernet; baseline checkpoints
    acc = next((entry.result[k] for k in keys if k in entry.result), None)
    label = "heaviest path " if "test_acc_heaviest" in entry.result else ""
    parts = [
        f"{entry.name}: {entry.data} / {entry.preset}",
        f"{label}{100 * acc:.2f}% test" if isinstance(acc, float) else "",
        ("held-out one-shot " if entry.oneshot else "")
        + " ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(entry.oneshot.items())),
        f"{entry.size / 1e6:.1f} MB" if entry.size else "",
        f"sha256 {entry.sha256[:12]}",
        "with predictor records" if entry.records else "",
        str(where),
    ]
    return "  ".join(p for p in parts if p)
