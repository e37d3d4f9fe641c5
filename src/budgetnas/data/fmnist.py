"""Fashion-MNIST from the original IDX gz files (60,000 train / 10,000 test, 28x28 grayscale)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from budgetnas.data._base import DataError, DatasetInfo
from budgetnas.data.paths import cache_root, download, read_gz, resolve_dir

__all__ = ["FILES", "HOW_TO_GET", "INFO", "MD5", "SYSTEM_DIRS", "find_dir", "load", "parse_idx"]

INFO = DatasetInfo(
    name="fashion-mnist",
    channels=1,
    image_size=28,
    num_classes=10,
    mean=(0.2860,),
    std=(0.3530,),
    n_train=60_000,
    n_test=10_000,
    n_heldout=10_000,
    hflip=True,  # clothes are left/right symmetric classes
    pad=2,
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)  # Debian package dataset-fashion-mnist
HOW_TO_GET = (
    "Get Fashion-MNIST with `apt install dataset-fashion-mnist` (installs "
    "/usr/share/datasets/fashion-mnist), or download the four *-ubyte.gz files from "
    "https://github.com/zalandoresearch/fashion-mnist into a folder and pass it with --data-dir "
    "or $BUDGETNAS_DATA (a folder holding fashion-mnist/)."
)


def find_dir(data_dir: str | os.PathLike | None) -> Path:
    files = FILES["train"] + FILES["test"]
    folder = resolve_dir("fashion-mnist", files, data_dir, SYSTEM_DIRS, HOW_TO_GET)
    if folder is None:
        folder = download(
            {f: (_URL + f, MD5[f]) for f in files}, cache_root() / "fashion-mnist", HOW_TO_GET
        )
    return folder


def parse_idx(raw: bytes, path: Path, ndim: int) -> np.ndarray:
    """Parse IDX bytes (magic 0x0000080N: unsigned bytes, N dimensions, big-endian sizes)."""
    if len(raw) < 4 + 4 * ndim or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DataError(f"{path} is not an IDX file of {ndim} dimension(s). {HOW_TO_GET}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    need = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != need:
        raise DataError(
            f"{path} is truncated or corrupt: {len(raw)} bytes after decompression, "
            f"expected {need} for shape {dims}. {HOW_TO_GET}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=4)
def _load(folder: str, part: str, _mtime: float) -> tuple[torch.Tensor, torch.Tensor]:
    img_name, lab_name = FILES[part]
    img_path, lab_path = Path(folder) / img_name, Path(folder) / lab_name
    images = parse_idx(read_gz(img_path, HOW_TO_GET), img_path, 3)
    labels = parse_idx(read_gz(lab_path, HOW_TO_GET), lab_path, 1)
    if len(images) != len(labels):
        raise DataError(f"{img_path} has {len(images)} images but {lab_path} {len(labels)} labels")
    if labels.max(initial=0) >= INFO.num_classes:
        raise DataError(f"{lab_path} has labels >= {INFO.num_classes}; the file is corrupt")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def load(part: str, data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(uint8 images N x 1 x 28 x 28, int64 labels)`` of ``part`` ("train" or "test")."""
    folder = find_dir(data_dir)
    mtime = max((folder / f).stat().st_mtime for f in FILES[part])
    return _load(str(folder), part, mtime)
