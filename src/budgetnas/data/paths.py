"""Where a dataset's files are found: ``--data-dir`` > ``BUDGETNAS_DATA`` > a system folder >
the download cache (downloading into it when allowed)."""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from budgetnas.data._base import DataError

__all__ = [
    "ENV_CACHE",
    "ENV_DATA",
    "ENV_NO_DOWNLOAD",
    "cache_root",
    "download",
    "read_gz",
    "resolve_dir",
]

ENV_DATA = "BUDGETNAS_DATA"  # a folder holding one sub-folder per dataset (fashion-mnist/, ...)
ENV_CACHE = "BUDGETNAS_CACHE"  # where downloads go (default ~/.cache/budgetnas/data)
ENV_NO_DOWNLOAD = "BUDGETNAS_NO_DOWNLOAD"  # set to 1 to never download


def cache_root() -> Path:
    root = os.environ.get(ENV_CACHE)
    return Path(root) if root else Path.home() / ".cache" / "budgetnas" / "data"


def _has_all(folder: Path, files: Sequence[str]) -> bool:
    return all((folder / f).is_file() for f in files)


def resolve_dir(
    name: str,
    files: Sequence[str],
    data_dir: str | os.PathLike | None,
    system_dirs: Sequence[str] = (),
    how_to_get: str = "",
) -> Path | None:
    """The folder holding ``files`` of dataset ``name``, or ``None`` when it must be downloaded.

    ``data_dir`` (and ``$BUDGETNAS_DATA``) may be the dataset folder itself or its parent (holding
    ``name/``). An explicit ``data_dir`` or ``$BUDGETNAS_DATA`` that lacks the files is an error,
    never a silent download.
    """
    for origin, root in (("--data-dir", data_dir), (f"${ENV_DATA}", os.environ.get(ENV_DATA))):
        if not root:
            continue
        root = Path(root).expanduser()
        for folder in (root, root / name):
            if _has_all(folder, files):
                return folder
        # name the folder the user most likely meant, and the first file missing from it
        folder = root / name if (root / name).is_dir() else root
        missing = next(f for f in files if not (folder / f).is_file())
        raise DataError(
            f"{name}: {folder / missing} not found (folder from {origin}={root}). {how_to_get}"
        )
    for folder in [Path(d) for d in system_dirs] + [cache_root() / name]:
        if _has_all(folder, files):
            return folder
    return None


def download(urls: dict[str, tuple[str, str]], dest: Path, how_to_get: str = "") -> Path:
    """Download ``{file: (url, md5)}`` into ``dest`` (atomically, checking md5); returns ``dest``."""
    from budgetnas.files import download_checked, file_digest

    if os.environ.get(ENV_NO_DOWNLOAD, "") not in ("", "0"):
        raise DataError(
            f"data not found locally and ${ENV_NO_DOWNLOAD} is set; expected it in {dest}. "
            f"{how_to_get}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for fname, (url, md5) in urls.items():
        target = dest / fname
        if target.is_file() and file_digest(target, "md5") == md5:
            continue
        print(f"downloading {url} -> {target}", file=sys.stderr)

        def check(tmp: Path, url=url, md5=md5) -> None:
            got = file_digest(tmp, "md5")
            if got != md5:
                raise DataError(f"download of {url} has md5 {got}, expected {md5}. {how_to_get}")

        try:
            download_checked(url, target, check)
        except OSError as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"could not download {url} to {target}: {err}. {how_to_get}") from err
    return dest


def read_gz(path: Path, how_to_get: str = "") -> bytes:
    """The decompressed bytes of a gzip file; a truncated or corrupt file raises :class:`DataError`."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError as err:
        raise DataError(f"{path} not found. {how_to_get}") from err
    except (OSError, EOFError) as err:
        raise DataError(
            f"{path} is truncated or corrupt ({err}); delete it and fetch it again. {how_to_get}"
        ) from err
