"""The datasets named by a path: ``"folder:PATH"`` (an image folder, decoded once into a cache)
and ``"arrays:DIR"`` (a folder written by :func:`budgetnas.data.write_arrays`, or any folder of
the prepared-arrays format).

Their :class:`~budgetnas.data.DatasetInfo` is named with the resolved path, so a configuration
saved with it reopens the same data from another working directory; its ``notes`` say how the
splits were made.

Example:
    >>> parse_name("folder:~/pets") == ("folder", Path("~/pets").expanduser().resolve())
    True
    >>> parse_name("cifar10") is None
    True
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.data import PATH_KINDS
from budgetnas.data._base import DatasetInfo, subset_indices
from budgetnas.data.arrays import ArraysData, open_arrays

__all__ = ["KINDS", "OPTIONS", "get_prepared", "open_prepared", "parse_name", "prepared_info"]

KINDS = PATH_KINDS  # "folder:PATH" and "arrays:DIR"
OPTIONS = ("image_size", "strict")  # the options of these datasets


def parse_name(name: str) -> tuple[str, Path] | None:
    """``(kind, resolved path)`` of a dataset named ``"folder:PATH"`` or ``"arrays:DIR"``;
    ``None`` for any other name."""
    kind, sep, rest = str(name).partition(":")
    if not sep or kind.lower() not in KINDS:
        return None
    if not rest:
        raise ValueError(f"dataset {name!r} names no folder; write {kind}:PATH")
    return kind.lower(), Path(rest).expanduser().resolve()


def _check_options(name: str, kwargs: dict[str, Any]) -> tuple[int | None, bool]:
    unknown = sorted(set(kwargs) - set(OPTIONS))
    if unknown:
        raise ValueError(f"dataset {name!r} takes the options {', '.join(OPTIONS)}, got {unknown}")
    return kwargs.get("image_size"), bool(kwargs.get("strict", False))


def _open(name: str, kwargs: dict[str, Any]) -> tuple[str, ArraysData]:
    """The canonical name and the opened arrays of a folder or arrays dataset."""
    kind, path = parse_name(name)
    image_size, strict = _check_options(name, kwargs)
    if kind == "folder":
        from budgetnas.data.folder import prepare

        data = _opened(str(prepare(path, image_size=image_size, strict=strict)))
        return f"folder:{path}", data
    data = _opened(str(path))
    if image_size is not None and image_size != int(data.meta["image_size"]):
        raise ValueError(
            f"arrays:{path} holds {data.meta['image_size']}-pixel images; image_size "
            f"{image_size} cannot change them (write the arrays again with image_size={image_size})"
        )
    if strict and data.meta.get("bad_files"):
        from budgetnas.data.folder import report_bad_files

        report_bad_files(path, [tuple(b) for b in data.meta["bad_files"]], True)
    return f"arrays:{path}", data


def _stamp(path: Path) -> int:
    try:
        return (path / "meta.json").stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=16)
def _opened_at(folder: str, _stamp: int) -> ArraysData:
    return open_arrays(folder)


def _opened(folder: str) -> ArraysData:
    """The opened arrays of ``folder``, reused while its ``meta.json`` is unchanged (a folder
    cache's name holds its key, so a changed image folder is another cache)."""
    return _opened_at(folder, _stamp(Path(folder)))


@lru_cache(maxsize=32)
def _info_of(canonical: str, folder: str, _stamp: int) -> DatasetInfo:
    return _opened_at(folder, _stamp).info(canonical)


def _cached_info(canonical: str, data: ArraysData) -> DatasetInfo:
    return _info_of(canonical, str(data.folder), _stamp(data.folder))


def open_prepared(name: str, **kwargs) -> tuple[DatasetInfo, ArraysData]:
    """The :class:`DatasetInfo` and the opened arrays (a folder's cache) of ``"folder:PATH"`` or
    ``"arrays:DIR"``, building the folder's cache on first use; ``kwargs``: ``image_size``,
    ``strict``."""
    canonical, data = _open(name, kwargs)
    return _cached_info(canonical, data), data


def prepared_info(name: str, **kwargs) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``"folder:PATH"`` or ``"arrays:DIR"`` (see
    :func:`open_prepared`)."""
    return open_prepared(name, **kwargs)[0]


def get_prepared(
    name: str,
    split: str,
    augment: bool = False,
    subset: int | None = None,
    seed: int = 0,
    **kwargs,
):
    """The ``split`` of a folder or arrays dataset: an :class:`~budgetnas.data.ImageTensorDataset`
    of the split's images read into memory, or, for a folder too big to cache, a
    :class:`~budgetnas.data.folder.FolderImageDataset` decoding them on access."""
    import torch

    from budgetnas.data._base import ImageTensorDataset

    canonical, data = _open(name, kwargs)
    info = _cached_info(canonical, data)
    idx = subset_indices(data.split_positions(split), subset, seed)
    common = {"augment": augment, "pad": info.pad, "hflip": info.hflip}
    if data.images is None:
        from budgetnas.data.folder import FolderImageDataset

        source = parse_name(str(data.meta["source"]))[1]
        return FolderImageDataset(
            source,
            [data.files[i] for i in idx],
            data.labels[idx],
            info.image_size,
            str(data.meta["mode"]),
            info.mean,
            info.std,
            **common,
        )
    images = torch.from_numpy(np.ascontiguousarray(data.images[idx]))
    labels = torch.from_numpy(np.asarray(data.labels[idx], dtype=np.int64))
    return ImageTensorDataset(images, labels, info.mean, info.std, **common)
