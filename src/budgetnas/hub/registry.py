"""Trained networks by name: entries of a registry file, each with its file's SHA-256.

A registry is a TOML file with one ``[supernets.NAME]`` table per trained supernet and one
``[baselines.NAME]`` table per reference network (a ``budgetnas train-baseline`` checkpoint that
runs compare against), each a :class:`HubEntry`. Two registries are read, the user's over the
project's:

* the project's own, shipped inside the package (``budgetnas/hub/supernets.toml``, files beside
  it in ``budgetnas/hub/files/``), written by ``make supernet``;
* the user's, ``$BUDGETNAS_HUB/supernets.toml`` (default ``~/.cache/budgetnas/hub``), where
  ``budgetnas supernet register`` adds entries and downloads are kept.

An entry's file is a local path (relative to its registry file) or a URL with a checksum;
:func:`resolve_supernet` returns a local path whose SHA-256 was checked against the entry, and
refuses a file that does not match (:class:`ChecksumError`): a corrupted, truncated or swapped
file is never used.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "w.pt").write_bytes(b"weights")
    >>> entry = HubEntry("mine", file="w.pt", sha256=sha256_of(folder / "w.pt"))
    >>> write_registry(folder / "supernets.toml", {"mine": entry})
    >>> read_registry(folder / "supernets.toml")["mine"].sha256 == entry.sha256
    True
    >>> read_registry(folder / "supernets.toml", section="baselines")
    {}
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_HUB",
    "SECTIONS",
    "ChecksumError",
    "HubEntry",
    "builtin_registry",
    "entries",
    "get_entry",
    "hub_root",
    "is_url",
    "read_registry",
    "resolve_file",
    "sha256_of",
    "user_registry",
    "write_registry",
]

ENV_HUB = "BUDGETNAS_HUB"  # the user's registry and downloads (default ~/.cache/budgetnas/hub)
REGISTRY = "supernets.toml"
SECTIONS = ("supernets", "baselines")


class ChecksumError(ValueError):
    """A registered file whose SHA-256 is not the registered one."""


@dataclass
class HubEntry:
    """One registered network (a supernet, or a baseline).

    ``file`` is a path (relative to the registry file's folder, or absolute) and ``url`` where it
    is downloaded from when the file is absent; ``sha256`` is checked on every use. The other
    fields describe it for ``budgetnas supernet list``: the dataset and space preset, the
    training's final record and held-out one-shot accuracies, the recipe that reproduces it, and
    ``records``: a file of the predictor's stored evaluations on this supernet (with its own
    ``records_sha256``), imported into a run's store so that they are not measured again.
    """

    name: str
    file: str | None = None
    sha256: str = ""
    url: str | None = None
    size: int | None = None
    data: str = ""
    preset: str = ""
    description: str = ""
    recipe: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    oneshot: dict[str, float] = field(default_factory=dict)
    records: str | None = None
    records_sha256: str = ""
    baseline: dict[str, Any] = field(default_factory=dict)
    registry: str | None = None  # the registry file it was read from (not written)

    def __post_init__(self) -> None:
        if self.file is None and self.url is None:
            raise ValueError(f"supernet {self.name!r}: an entry needs a file or a url")
        if self.url is not None and not self.sha256:
            raise ValueError(
                f"supernet {self.name!r}: a url needs its sha256, so that the download is checked"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in asdict(self).items()
            if k not in ("name", "registry") and v not in (None, "", {})
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any], registry: str | None = None):
        known = {f.name for f in fields(cls)} - {"name", "registry"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"supernet {name!r} in {registry}: unknown fields {', '.join(sorted(unknown))}"
            )
        return cls(name=name, registry=registry, **data)

    def local_path(self, key: str = "file") -> Path | None:
        """The path of ``file`` (or ``records``), relative to the registry's folder."""
        value = getattr(self, key)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute() and self.registry is not None:
            path = Path(self.registry).parent / path
        return path


def hub_root() -> Path:
    root = os.environ.get(ENV_HUB)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "budgetnas" / "hub"


def builtin_registry() -> Path:
    """The registry shipped with the package."""
    return Path(__file__).resolve().parent / REGISTRY


def user_registry() -> Path:
    return hub_root() / REGISTRY


def _section(section: str) -> str:
    if section not in SECTIONS:
        raise ValueError(f"unknown registry section {section!r}; one of {', '.join(SECTIONS)}")
    return section


def _read_tables(path: Path) -> dict[str, Any]:
    from budgetnas.config import load_toml

    if not path.is_file():
        return {}
    try:
        return load_toml(path)
    except ValueError as exc:
        raise ValueError(f"{path} is not a readable registry: {exc}") from None


def read_registry(path: str | Path, section: str = "supernets") -> dict[str, HubEntry]:
    """The entries of one section of a registry file (none when it does not exist)."""
    path = Path(path)
    tables = _read_tables(path).get(_section(section), {})
    return {name: HubEntry.from_dict(name, t, str(path)) for name, t in tables.items()}


def write_registry(
    path: str | Path, entries_: dict[str, HubEntry], section: str = "supernets"
) -> None:
    """Write ``entries_`` as the ``section`` of the registry ``path`` (atomically; the other
    section is kept)."""
    import tomli_w

    from budgetnas.files import write_text_atomic

    path = Path(path)
    body = _read_tables(path)
    body[_section(section)] = {name: e.to_dict() for name, e in sorted(entries_.items())}
    header = "# budgetnas registry of trained networks (`budgetnas supernet list` shows it)\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, header + tomli_w.dumps(body))


def entries(section: str = "supernets") -> dict[str, HubEntry]:
    """Every registered network of ``section``: the project's, then the user's (which may
    replace one)."""
    return {
        **read_registry(builtin_registry(), section),
        **read_registry(user_registry(), section),
    }


def get_entry(name: str, section: str = "supernets") -> HubEntry:
    known = entries(section)
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        what = "supernet" if section == "supernets" else "baseline"
        raise KeyError(
            f"no {what} named {name!r} (registered: {names}); `budgetnas supernet register` "
            f"adds one, or pass the path of a file"
        )
    return known[name]


def sha256_of(path: str | Path) -> str:
    from budgetnas.files import file_digest

    return file_digest(path, "sha256")


def is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme in ("http", "https", "file")


def _check(path: Path, sha256: str, what: str) -> Path:
    got = sha256_of(path)
    if got != sha256:
        raise ChecksumError(
            f"{what}: {path} has SHA-256 {got}, the registry says {sha256}; the file is "
            "corrupt, truncated or not the registered one, and is refused (delete it to "
            "download it again, or register the file you mean)"
        )
    return path


def download(url: str, dest: Path, sha256: str, what: str) -> Path:
    """``url`` saved as ``dest`` (atomically) after its SHA-256 matched ``sha256``."""
    from budgetnas.files import download_checked

    print(f"downloading {url} -> {dest}", file=sys.stderr)
    try:
        return download_checked(url, dest, lambda tmp: _check(tmp, sha256, what))
    except OSError as err:
        raise FileNotFoundError(f"{what}: could not download {url}: {err}") from err


def resolve_file(entry: HubEntry, key: str = "file") -> Path:
    """The checked local path of the entry's supernet (``key="file"``) or its records
    (``key="records"``): the registered file, else the download of its url into the hub."""
    sha = entry.sha256 if key == "file" else entry.records_sha256
    what = f"supernet {entry.name!r}" + ("" if key == "file" else " records")
    path = entry.local_path(key)
    if path is not None and path.is_file():
        return _check(path, sha, what)
    if key == "file" and entry.url is not None:
        cached = hub_root() / "files" / f"{entry.name}-{entry.sha256[:12]}.pt"
        if cached.is_file():
            return _check(cached, sha, what)
        return download(entry.url, cached, entry.sha256, what)
    raise FileNotFoundError(
        f"{what}: {path} does not exist"
        + ("" if key != "file" else " and the entry has no url to download it from")
    )
