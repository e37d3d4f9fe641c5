"""The prepared-arrays format: a folder of images decoded once, reopened without decoding.

A folder of this format (what ``"arrays:DIR"`` names; also the cache of a ``"folder:PATH"``
dataset) holds:

* ``images.npy``: uint8 ``N x C x S x S``, opened with ``np.load(mmap_mode="r")`` (absent for a
  folder too big to cache, whose images are decoded on access);
* ``labels.npy``: int64 ``N``; ``parts.npy``: uint8 ``N``, the split each image is in
  (:data:`SEARCH`, :data:`HELDOUT` or :data:`TEST`);
* ``files.json``: the image files, relative to the source folder (folder datasets only);
* ``meta.json``: classes, counts, image size, mode, the mean/std of the training images
  (``train`` = search-train + heldout, never test), the files skipped, notes and the version.

The splits are ``"train"`` (search-train + heldout), ``"search-train"``, ``"heldout"`` and
``"test"``. A folder is written in a temporary folder beside it and renamed into place
(:func:`building`), so a crash never leaves half of one.

Example:
    >>> import tempfile, numpy as np
    >>> out = Path(tempfile.mkdtemp()) / "set"
    >>> labels = np.array([0, 0, 1, 1])
    >>> with building(out) as tmp:
    ...     write_contents(tmp, np.zeros((4, 1, 2, 2), np.uint8), labels,
    ...                    np.array([SEARCH, HELDOUT, SEARCH, TEST], np.uint8),
    ...                    {"classes": ["a", "b"], "mean": [0.0], "std": [1.0]})
    >>> data = open_arrays(out)
    >>> data.split_positions("train").tolist(), data.split_positions("test").tolist()
    ([0, 1, 2], [3])
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.data._base import HELDOUT_SEED, DataError, DatasetInfo

__all__ = [
    "FORMAT",
    "HELDOUT",
    "HELDOUT_SHARE",
    "SEARCH",
    "TEST",
    "TEST_SEED",
    "TEST_SHARE",
    "TRAIN_STATS",
    "VERSION",
    "ArraysData",
    "assign_parts",
    "building",
    "channel_stats",
    "image_meta",
    "open_arrays",
    "stratified_share",
    "write_contents",
]

FORMAT = "budgetnas-arrays"
VERSION = 1
SEARCH, HELDOUT, TEST = 0, 1, 2  # the values of parts.npy
TEST_SHARE = 0.1  # of every class of the training images, held out as test when there is none
HELDOUT_SHARE = 0.1  # of every class of the remaining training images, when there is no val/
TEST_SEED = 20_240_608  # fixed like HELDOUT_SEED: the same test images in every run
_SPLIT_PARTS = {
    "train": (SEARCH, HELDOUT),
    "search-train": (SEARCH,),
    "heldout": (HELDOUT,),
    "test": (TEST,),
}


def stratified_share(labels: np.ndarray, pool: np.ndarray, share: float, seed: int) -> np.ndarray:
    """The sorted positions, out of ``pool``, of a fixed ``share`` of every class: of a class of
    ``n`` images ``round(share * n)`` of them, at least one when ``n >= 2``, none of a class of
    one image; drawn with ``seed``.

    Example:
        >>> labels = np.array([0] * 10 + [1] * 20)
        >>> picked = stratified_share(labels, np.arange(30), 0.1, seed=0)
        >>> np.bincount(labels[picked]).tolist()
        [1, 2]
    """
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        n = len(members)
        k = max(1, round(share * n)) if n >= 2 else 0
        picked.append(members[rng.permutation(n)[:k]])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def assign_parts(
    labels: np.ndarray,
    origin: np.ndarray,
    names: Sequence[str] = ("train/", "val/", "test/"),
    kind: str = "folder",
) -> tuple[np.ndarray, list[str]]:
    """The split of every image (:data:`SEARCH`, :data:`HELDOUT`, :data:`TEST`) from where it
    came (``origin``: 0 the training images, 1 the validation images, 2 the test images) and
    the notes that say how the splits were made (``names`` name the three sources, each a
    ``kind``).

    Without test images, :data:`TEST_SHARE` of every class of the training images is held out
    as the test split; without validation images, the held-out split of the search is
    :data:`HELDOUT_SHARE` of every class of the rest, never from the test split.
    """
    train_name, val_name, test_name = names
    labels = np.asarray(labels)
    origin = np.asarray(origin)
    parts = np.full(len(labels), SEARCH, dtype=np.uint8)
    parts[origin == 1] = HELDOUT
    parts[origin == 2] = TEST
    notes = []
    if not (origin == 2).any():
        test = stratified_share(labels, np.flatnonzero(origin == 0), TEST_SHARE, TEST_SEED)
        parts[test] = TEST
        notes.append(
            f"no {test_name} {kind}: {TEST_SHARE:.0%} of {train_name} per class "
            f"({len(test):,} images) held out as the test split"
        )
    if (origin == 1).any():
        notes.append(
            f"the search's held-out split is {val_name} ({int((origin == 1).sum()):,} images); "
            f"train = {train_name} + {val_name}"
        )
    else:
        pool = np.flatnonzero(parts == SEARCH)
        held = stratified_share(labels, pool, HELDOUT_SHARE, HELDOUT_SEED)
        parts[held] = HELDOUT
        notes.append(
            f"no {val_name} {kind}: the search's held-out split is {HELDOUT_SHARE:.0%} of "
            f"{train_name} per class ({len(held):,} images), none of them test images"
        )
    return parts, notes


def channel_stats(images: np.ndarray, positions: np.ndarray, chunk: int = 4096) -> tuple:
    """``(mean, std)`` per channel of ``images[positions]`` scaled to [0, 1], read in chunks."""
    c = images.shape[1]
    total = np.zeros(c)
    squares = np.zeros(c)
    count = 0
    for start in range(0, len(positions), chunk):
        block = np.asarray(images[positions[start : start + chunk]], dtype=np.float64) / 255.0
        total += block.sum(axis=(0, 2, 3))
        squares += (block**2).sum(axis=(0, 2, 3))
        count += block.shape[0] * block.shape[2] * block.shape[3]
    if count == 0:
        return (0.5,) * c, (0.25,) * c
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std = np.where(std < 1e-6, 1.0, std)  # a constant channel: no scaling
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


@contextlib.contextmanager
def building(out_dir: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` to write a dataset into; renamed to ``out_dir``
    when the block ends without an error (replacing an earlier one), removed when it raises."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's folder is private; a dataset is readable like other files
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: where the mean/std of a dataset whose images are all decoded come from
TRAIN_STATS = "train split (search-train + heldout, no test images)"


def image_meta(
    source: str,
    classes: Sequence[str],
    labels: np.ndarray,
    image_size: int,
    mode: str,
    mean: Sequence[float],
    std: Sequence[float],
    notes: Sequence[str],
    stats_from: str = TRAIN_STATS,
    bad_files: Sequence[Sequence[str]] = (),
    streaming: bool = False,
) -> dict[str, Any]:
    """The ``meta.json`` record of a dataset of this format (before :func:`write_contents`
    adds its counts): what a folder cache and :func:`~budgetnas.data.write_arrays` both write,
    with the augmentation every such dataset gets (a horizontal flip, a crop padded by
    ``max(1, image_size // 8)`` pixels)."""
    from budgetnas.data.images import MODES

    return {
        "source": source,
        "classes": [str(c) for c in classes],
        "image_size": image_size,
        "mode": mode,
        "channels": MODES[mode],
        "mean": list(mean),
        "std": list(std),
        "stats_from": stats_from,
        "hflip": True,
        "pad": max(1, image_size // 8),
        "per_class": np.bincount(labels, minlength=len(classes)).tolist(),
        "bad_files": [list(b) for b in bad_files],
        "notes": list(notes),
        "streaming": streaming,
    }


def write_contents(
    folder: Path,
    images: np.ndarray | None,
    labels: np.ndarray,
    parts: np.ndarray,
    meta: dict[str, Any],
    files: Sequence[str] | None = None,
) -> None:
    """Write the files of the format into ``folder`` (``images`` None: already written, or a
    dataset decoded on access); ``meta`` gets the counts, format and version added."""
    if images is not None:
        np.save(folder / "images.npy", np.ascontiguousarray(images, dtype=np.uint8))
    np.save(folder / "labels.npy", np.asarray(labels, dtype=np.int64))
    np.save(folder / "parts.npy", np.asarray(parts, dtype=np.uint8))
    if files is not None:
        (folder / "files.json").write_text(json.dumps(list(files), ensure_ascii=False))
    counts = {s: int(np.isin(parts, p).sum()) for s, p in _SPLIT_PARTS.items()}
    full = {"format": FORMAT, "version": VERSION, "counts": counts, **meta}
    (folder / "meta.json").write_text(json.dumps(full, indent=1, ensure_ascii=False))


@dataclass
class ArraysData:
    """An opened folder of the format: the arrays (images memory-mapped) and its metadata."""

    folder: Path
    labels: np.ndarray
    parts: np.ndarray
    meta: dict[str, Any]
    images: np.ndarray | None = None  # None: decoded on access from ``files``
    files: list[str] | None = field(default=None, repr=False)

    def split_positions(self, split: str) -> np.ndarray:
        """The positions of the images of ``split`` (sorted)."""
        if split not in _SPLIT_PARTS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(_SPLIT_PARTS)}")
        return np.flatnonzero(np.isin(self.parts, _SPLIT_PARTS[split]))

    def info(self, name: str) -> DatasetInfo:
        """The :class:`DatasetInfo` of this data, called ``name``."""
        meta = self.meta
        size = int(meta["image_size"])
        classes = tuple(meta["classes"])
        counts = {s: len(self.split_positions(s)) for s in _SPLIT_PARTS}
        return DatasetInfo(
            name=name,
            channels=int(meta["channels"]),
            image_size=size,
            num_classes=len(classes),
            mean=tuple(meta["mean"]),
            std=tuple(meta["std"]),
            n_train=counts["train"],
            n_test=counts["test"],
            n_heldout=counts["heldout"],
            hflip=bool(meta.get("hflip", True)),
            pad=int(meta.get("pad", max(1, size // 8))),
            classes=classes,
            notes=tuple(meta.get("notes", ())),
        )


def open_arrays(folder: str | os.PathLike) -> ArraysData:
    """Open a folder written in this format; a missing or damaged file raises
    :class:`DataError` naming it."""
    folder = Path(folder).expanduser()
    how = "write it again with budgetnas.data.write_arrays (or delete a folder cache to rebuild it)"
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as err:
        raise DataError(
            f"{meta_path} not found: {folder} is not a prepared dataset; {how}"
        ) from err
    except (OSError, ValueError) as err:
        raise DataError(f"{meta_path} cannot be read ({err}); {how}") from err
    if meta.get("format") != FORMAT or int(meta.get("version", 0)) > VERSION:
        raise DataError(
            f"{meta_path} is not a {FORMAT} file of version <= {VERSION} "
            f"(format {meta.get('format')!r}, version {meta.get('version')!r}); {how}"
        )
    try:
        labels = np.load(folder / "labels.npy")
        parts = np.load(folder / "parts.npy")
        images = None
        if (folder / "images.npy").is_file():
            images = np.load(folder / "images.npy", mmap_mode="r")
        files = None
        if (folder / "files.json").is_file():
            files = json.loads((folder / "files.json").read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{folder}: a file cannot be read ({err}); {how}") from err
    n = len(labels)
    if len(parts) != n or (images is not None and images.shape[0] != n):
        raise DataError(
            f"{folder}: {n} labels, {len(parts)} parts and "
            f"{None if images is None else images.shape[0]} images do not match; {how}"
        )
    if images is None and files is None:
        raise DataError(f"{folder}: neither images.npy nor files.json; {how}")
    return ArraysData(folder, labels, parts, meta, images, files)
