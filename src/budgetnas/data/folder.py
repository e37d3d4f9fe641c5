"""Image folders as datasets: ``PATH/train/<class>/*`` (and optionally ``PATH/val/<class>/*``,
``PATH/test/<class>/*``), decoded once into a cache in the prepared-arrays format.

:func:`prepare` lists the folder, and reuses the cache whose key (a hash of the resolved path,
the requested image size and every image's relative path, size and modification time) matches,
or decodes the images into a new one (written atomically; the earlier caches of the same folder
and size are removed). A folder whose uint8 images would take more than
``$BUDGETNAS_FOLDER_CACHE_GB`` (default 16) is not cached: its cache holds the file list, labels
and splits, and :class:`FolderImageDataset` decodes every image on access.

Class names are the sub-folders of ``train/`` (sorted); image files are ``.jpg``, ``.jpeg``,
``.png``, ``.webp`` and ``.bmp`` in any case, anywhere under a class folder; other files and
hidden ones are ignored. Files that cannot be decoded are skipped with one warning naming them
(``strict=True``: a :class:`DataError`). The images are RGB unless (nearly) all are single
channel, then grayscale; the side defaults to the most common shorter side of the images.

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for c in ("cat", "dog"):
    ...     (root / "train" / c).mkdir(parents=True)
    ...     for i in range(5):
    ...         Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / "train" / c / f"{i}.png")
    >>> data = open_arrays(prepare(root, cache_dir=root / "cache"))
    >>> data.meta["classes"], data.images.shape, data.meta["counts"]["test"]
    (['cat', 'dog'], (10, 3, 8, 8), 2)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from budgetnas.data import images as image_files
from budgetnas.data._base import DataError, NormalizedImages
from budgetnas.data.arrays import (
    HELDOUT,
    SEARCH,
    TEST,
    TRAIN_STATS,
    assign_parts,
    building,
    channel_stats,
    image_meta,
    open_arrays,
    write_contents,
)
from budgetnas.data.paths import cache_root

__all__ = [
    "CACHE_FOLDER",
    "DEFAULT_CACHE_GB",
    "ENV_CACHE_GB",
    "STATS_SAMPLE",
    "FolderImageDataset",
    "Listing",
    "cache_limit_bytes",
    "choose_mode",
    "choose_size",
    "prepare",
    "report_bad_files",
    "scan",
]

ENV_CACHE_GB = "BUDGETNAS_FOLDER_CACHE_GB"
DEFAULT_CACHE_GB = 16.0
CACHE_FOLDER = "folders"  # under budgetnas.data.paths.cache_root()
STATS_SAMPLE = 2_000  # training images the mean/std of a folder too big to cache come from
_STATS_SEED = 11
_SINGLE_SHARE = 0.99  # this share of single-channel images makes a grayscale dataset
_POOL_FROM = 2_000  # decode with worker processes from this many images on
_LAYOUT = "lay the images out as PATH/train/<class>/<image> (and optionally PATH/val/, PATH/test/)"
_CACHE_FORMAT = 1  # bump when the decoding changes: old caches are rebuilt


def cache_limit_bytes() -> float:
    """The largest uint8 image array that is cached: ``$BUDGETNAS_FOLDER_CACHE_GB`` GB."""
    raw = os.environ.get(ENV_CACHE_GB, "")
    try:
        return float(raw or DEFAULT_CACHE_GB) * 1e9
    except ValueError as err:
        raise ValueError(f"${ENV_CACHE_GB} must be a number of GB, got {raw!r}") from err


@dataclass
class Listing:
    """The image files of a folder dataset, in their fixed order (train/, val/, test/; classes
    sorted; files sorted), with their labels and origins (0 train/, 1 val/, 2 test/)."""

    root: Path
    classes: list[str]
    files: list[str]  # relative to root, with "/"
    labels: np.ndarray
    origin: np.ndarray
    stamps: list[tuple[str, int, int]]  # (relative path, size, mtime_ns)

    def key(self, image_size: int | None) -> str:
        """The cache key: a hash of the folder, the requested size and every file's stamp."""
        text = json.dumps([_CACHE_FORMAT, str(self.root), image_size, self.stamps])
        return hashlib.sha256(text.encode()).hexdigest()


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_under(folder: str, rel: str) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of the image files anywhere below ``folder`` (whose
    path relative to the dataset is ``rel``), sorted; hidden files and folders are skipped."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                found.extend(_images_under(entry.path, f"{rel}/{entry.name}"))
            elif entry.name.lower().endswith(image_files.IMAGE_SUFFIXES) and entry.is_file():
                st = entry.stat()
                found.append((f"{rel}/{entry.name}", st.st_size, st.st_mtime_ns))
    return sorted(found)


def scan(root: str | os.PathLike) -> Listing:
    """List the image files of folder dataset ``root``; a missing ``train/``, a class folder
    without images or a class of ``val/`` or ``test/`` that ``train/`` lacks raises
    :class:`DataError`."""
    root = Path(root).expanduser().resolve()
    if not (root / "train").is_dir():
        raise DataError(f"folder:{root}: {root / 'train'} not found; {_LAYOUT}")
    classes = [p.name for p in _visible_dirs(root / "train")]
    if not classes:
        raise DataError(f"folder:{root}: {root / 'train'} has no class folders; {_LAYOUT}")
    files, labels, origin, stamps = [], [], [], []
    for code, sub in enumerate(("train", "val", "test")):
        if not (root / sub).is_dir():
            continue
        for class_dir in _visible_dirs(root / sub):
            if class_dir.name not in classes:
                raise DataError(
                    f"folder:{root}: class {class_dir.name!r} of {root / sub} is not a class of "
                    f"{root / 'train'} ({', '.join(classes)}); rename or remove {class_dir}"
                )
            found = _images_under(str(class_dir), f"{sub}/{class_dir.name}")
            if not found:
                raise DataError(
                    f"folder:{root}: class folder {class_dir} holds no images "
                    f"({', '.join(image_files.IMAGE_SUFFIXES)}); add images or remove it"
                )
            label = classes.index(class_dir.name)
            files.extend(f[0] for f in found)
            labels.extend([label] * len(found))
            origin.extend([code] * len(found))
            stamps.extend(found)
    return Listing(
        root, classes, files, np.array(labels, np.int64), np.array(origin, np.int8), stamps
    )


def choose_mode(modes: list[str]) -> str:
    """``"L"`` when (nearly: 99%) all of Pillow ``modes`` are single channel, else ``"RGB"``."""
    single = sum(m in image_files.SINGLE_CHANNEL for m in modes)
    return "L" if modes and single >= _SINGLE_SHARE * len(modes) else "RGB"


def choose_size(sizes: list[tuple[int, int]]) -> int:
    """The most common shorter side of ``(width, height)`` pairs (the larger one on a tie)."""
    counts = Counter(min(w, h) for w, h in sizes)
    return max(counts, key=lambda s: (counts[s], s))


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not sys.stderr.isatty(), leave=False)


def _header(path: str) -> tuple[tuple[int, int, str] | None, str]:
    try:
        return image_files.read_header(path), ""
    except Exception as err:  # any file Pillow cannot open is a bad file, whatever the error
        return None, f"{type(err).__name__}: {err}"


def _decode(args: tuple[str, int, str]) -> tuple[np.ndarray | None, str]:
    path, size, mode = args
    try:
        return image_files.load_image(path, size, mode), ""
    except Exception as err:  # a truncated or corrupt file: skipped (or an error when strict)
        return None, f"{type(err).__name__}: {err}"


def _map(fn, items: list, desc: str):
    """``fn`` over ``items`` in order, with worker processes for many items, and a progress
    bar on a terminal."""
    bar = _progress(len(items), desc)
    try:
        if len(items) >= _POOL_FROM and (os.cpu_count() or 1) > 1 and sys.platform == "linux":
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(min(os.cpu_count() or 1, 16)) as pool:
                for out in pool.imap(fn, items, chunksize=64):
                    bar.update()
                    yield out
        else:
            for item in items:
                out = fn(item)
                bar.update()
                yield out
    finally:
        bar.close()


def report_bad_files(root: Path, bad: list[tuple[str, str]], strict: bool) -> None:
    """Warn once about the files ``bad`` (``(relative path, why)``) of ``root`` that are
    skipped, naming up to ten; ``strict``: raise :class:`DataError` instead."""
    if not bad:
        return
    shown = "; ".join(f"{rel} ({why})" for rel, why in bad[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    if strict:
        raise DataError(
            f"folder:{root}: {len(bad)} file(s) cannot be decoded: {shown}{more}. Fix or remove "
            "them, or leave strict off to skip them"
        )
    warnings.warn(
        f"folder:{root}: skipping {len(bad)} file(s) that cannot be decoded: {shown}{more}",
        stacklevel=3,
    )


def _cache_name(root: Path, image_size: int | None, key: str) -> tuple[str, str]:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", root.name)[:40] or "folder"
    where = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    prefix = f"{slug}-{where}-{image_size or 'auto'}-"
    return prefix, prefix + key[:20]


def prepare(
    root: str | os.PathLike,
    image_size: int | None = None,
    strict: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """The cache folder (prepared-arrays format) of folder dataset ``root``: reused when its
    key matches, else built (see the module docstring). ``strict``: a file that cannot be
    decoded raises :class:`DataError` instead of being skipped with a warning. ``cache_dir``:
    where the caches are (default ``cache_root() / "folders"``)."""
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size!r}")
    listing = scan(root)
    prefix, name = _cache_name(listing.root, image_size, listing.key(image_size))
    parent = Path(cache_dir) if cache_dir is not None else cache_root() / CACHE_FOLDER
    out = parent / name
    if (out / "meta.json").is_file():
        if strict:
            report_bad_files(
                listing.root, [tuple(b) for b in open_arrays(out).meta["bad_files"]], True
            )
        return out
    # said once, also where no progress bar is drawn (a log file): the first use can take minutes
    print(
        f"decoding the {len(listing.files):,} images of {listing.root} into the cache {out} "
        "(once; later uses read the cache)",
        file=sys.stderr,
    )
    with building(out) as tmp:
        _build(listing, image_size, strict, tmp)
    for old in parent.glob(prefix + "*"):
        if old != out and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return out


def _build(listing: Listing, image_size: int | None, strict: bool, tmp: Path) -> None:
    root = listing.root
    paths = [str(root / f) for f in listing.files]
    if not paths:
        raise DataError(f"folder:{root}: no images found; {_LAYOUT}")
    headers = list(_map(_header, paths, "reading image headers"))
    bad = [(listing.files[i], why) for i, (h, why) in enumerate(headers) if h is None]
    good = [i for i, (h, _) in enumerate(headers) if h is not None]
    if strict:
        report_bad_files(root, bad, strict)  # before decoding anything
    if not good:
        raise DataError(f"folder:{root}: none of the {len(paths)} images can be read")
    modes = [headers[i][0][2] for i in good]
    mode = choose_mode(modes)
    size = image_size or choose_size([headers[i][0][:2] for i in good])
    channels = image_files.MODES[mode]
    notes = []
    colour = sum(m not in image_files.SINGLE_CHANNEL for m in modes)
    if mode == "L" and colour:
        notes.append(f"{colour} colour image(s) converted to grayscale")
    nbytes = len(good) * channels * size * size
    limit = cache_limit_bytes()
    if nbytes <= limit:
        keep, stats = _decode_cached(paths, good, size, mode, channels, listing, bad, strict, tmp)
        images_note = None
    else:
        # the splits first, so that the sample holds training images only (no test share)
        split_of, _ = assign_parts(listing.labels[good], listing.origin[good])
        train = [i for i, part in zip(good, split_of, strict=True) if part != TEST]
        keep, stats = _sample_stats(paths, good, train, size, mode, listing, bad)
        images_note = (
            f"too big to cache ({nbytes / 1e9:.1f} GB of images over ${ENV_CACHE_GB}="
            f"{limit / 1e9:g}): images are decoded on access; mean/std from "
            f"{stats[2]:,} training images"
        )
    report_bad_files(root, bad, strict)
    labels, origin = listing.labels[keep], listing.origin[keep]
    parts, split_notes = assign_parts(labels, origin)
    notes.extend(split_notes)
    if stats[0] is None:  # the cached images: the statistics of the training split
        mean, std = channel_stats(
            np.load(tmp / "images.npy", mmap_mode="r"),
            np.flatnonzero(np.isin(parts, (SEARCH, HELDOUT))),
        )
        stats_from = TRAIN_STATS
    else:
        mean, std = stats[0], stats[1]
        stats_from = f"a fixed sample of {stats[2]} training images"
    if images_note:
        notes.append(images_note)
    if bad:
        notes.append(f"{len(bad)} file(s) could not be decoded and were skipped")
    meta = image_meta(
        f"folder:{root}",
        listing.classes,
        labels,
        size,
        mode,
        mean,
        std,
        notes,
        stats_from=stats_from,
        bad_files=bad,
        streaming=images_note is not None,
    )
    write_contents(tmp, None, labels, parts, meta, [listing.files[i] for i in keep])


def _decode_cached(paths, good, size, mode, channels, listing, bad, strict, tmp: Path):
    """Decode the images ``good`` into ``tmp/images.npy``; returns the positions decoded."""
    target = tmp / "images.npy"
    arr = np.lib.format.open_memmap(target, "w+", np.uint8, (len(good), channels, size, size))
    keep = []
    jobs = [(paths[i], size, mode) for i in good]
    for i, (img, why) in zip(good, _map(_decode, jobs, "decoding images"), strict=True):
        if img is None:
            bad.append((listing.files[i], why))
            continue
        arr[len(keep)] = img
        keep.append(i)
    if len(keep) < len(good):  # compact: the rows of the skipped files go
        compact = np.lib.format.open_memmap(
            tmp / "images.tmp.npy", "w+", np.uint8, (len(keep), channels, size, size)
        )
        compact[:] = arr[: len(keep)]
        compact.flush()
        del arr, compact
        os.replace(tmp / "images.tmp.npy", target)
    else:
        arr.flush()
        del arr
    bad.sort()
    return keep, (None, None, 0)


def _sample_stats(paths, good, train, size, mode, listing, bad):
    """Mean/std of a fixed sample of the training files ``train`` (decoded here) of a folder
    too big to cache; returns the positions of ``good`` kept and ``(mean, std, n)``."""
    rng = np.random.default_rng(_STATS_SEED)
    sample = sorted(rng.permutation(train)[:STATS_SAMPLE].tolist()) if train else []
    decoded, failed = [], set()
    for i, (img, why) in zip(
        sample,
        _map(_decode, [(paths[i], size, mode) for i in sample], "sampling image statistics"),
        strict=True,
    ):
        if img is None:
            bad.append((listing.files[i], why))
            failed.add(i)
        else:
            decoded.append(img)
    bad.sort()
    keep = [i for i in good if i not in failed]
    if decoded:
        mean, std = channel_stats(np.stack(decoded), np.arange(len(decoded)))
    else:
        c = image_files.MODES[mode]
        mean, std = (0.5,) * c, (0.25,) * c
    return keep, (mean, std, len(decoded))


class FolderImageDataset(NormalizedImages):
    """Images decoded from their files on every access (a folder too big to cache), with the
    normalization and augmentation of :class:`~budgetnas.data.ImageTensorDataset`; meant for
    ``DataLoader`` workers (``num_workers``)."""

    def __init__(
        self,
        root: str | os.PathLike,
        files: list[str],
        labels: np.ndarray,
        image_size: int,
        mode: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: bool = False,
        pad: int = 4,
        hflip: bool = True,
    ):
        import torch

        if len(files) != len(labels):
            raise ValueError(f"{len(files)} files but {len(labels)} labels")
        self.root = Path(root)
        self.files = list(files)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.image_size = image_size
        self.mode = mode
        self._set_normalization(image_files.MODES[mode], mean, std, augment, pad, hflip)

    def __len__(self) -> int:
        return len(self.files)

    def raw(self, index: int):
        """The uint8 ``C x S x S`` tensor of image ``index`` (decoded now)."""
        import torch

        path = self.root / self.files[index]
        try:
            arr = image_files.load_image(path, self.image_size, self.mode)
        except Exception as err:
            raise DataError(
                f"{path} cannot be decoded ({type(err).__name__}: {err}); fix or remove it"
            ) from err
        return torch.from_numpy(arr)

    def __getitem__(self, index: int):
        return self._item(self.raw(index)), int(self.labels[index])

    def subset(self, indices: np.ndarray) -> FolderImageDataset:
        """A dataset over ``indices`` only."""
        idx = np.asarray(indices, dtype=np.int64)
        out = FolderImageDataset.__new__(FolderImageDataset)
        out.__dict__.update(self.__dict__)
        out.files = [self.files[i] for i in idx]
        out.labels = self.labels[idx]
        return out
