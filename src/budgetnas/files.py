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
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


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


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see the module doc)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
