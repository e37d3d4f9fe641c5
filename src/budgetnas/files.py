"""Writing files so that a crash or a second process never leaves a half-written one.

Every write goes to a temporary file of its own (a unique name in the same folder) and is then
renamed over the target, which the operating system does in one step: readers see the old file
or the new one, never a mix, and two processes writing the same file never rename each other's
temporary file away.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "result.json"
    >>> _ = write_text_atomic(path, '{"ok": true}')
    >>> path.read_text()
    '{"ok": true}'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "check_distinct_outputs",
    "download_checked",
    "file_digest",
    "read_json",
    "write_text_atomic",
]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends
    without an error, removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of the file at ``path`` (``algorithm``: a :mod:`hashlib` name).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "f"
        >>> _ = path.write_bytes(b"abc")
        >>> file_digest(path, "md5")
        '900150983cd24fb0d6963f7d28e17f72'
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_checked(
    url: str, path: str | Path, check: Callable[[Path], None], timeout: float = 60.0
) -> Path:
    """``url`` saved as ``path``, atomically: ``check(downloaded)`` runs on the finished
    download before it takes the name, and whatever it raises (a checksum mismatch) leaves
    nothing behind; so does a failed transfer, whose ``OSError`` is the caller's to explain."""
    with atomic_path(path) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
        check(tmp)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see the module doc)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def check_distinct_outputs(**paths: str | Path | None) -> None:
    """Refuse two outputs (``json=..., plot=..., store=...``; None is skipped) that resolve to
    the same file, before any work: one would overwrite the other.

    Example:
        >>> check_distinct_outputs(json="out/a.json", plot="out/a.png", store=None)
        >>> check_distinct_outputs(json="out/a.json", plot="out/../out/a.json")
        Traceback (most recent call last):
        ...
        ValueError: --json and --plot both name out/a.json; give each output its own file
    """
    seen: dict[Path, str] = {}
    for name, path in paths.items():
        if path is None:
            continue
        where = Path(path).expanduser().resolve()
        if where in seen:
            flag, other = seen[where], name
            raise ValueError(
                f"--{flag.replace('_', '-')} and --{other.replace('_', '-')} both name "
                f"{paths[flag]}; give each output its own file"
            )
        seen[where] = name


def read_json(path: str | Path, what: str = "file"):
    """The JSON value of ``path``; a missing file (``no WHAT PATH``) or unreadable JSON is an
    error naming the file."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} {path}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not readable JSON: {err}") from None
