"""CIFAR-10 from the python pickle batches (50,000 train / 10,000 test, 32x32 RGB).

The batches are read with a restricted unpickler (numpy arrays and plain data only), so a crafted
batch cannot run code when it is loaded.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from budgetnas.data._base import DataError, DatasetInfo
from budgetnas.data.paths import cache_root, download, resolve_dir
from budgetnas.safeio import load_plain_pickle

__all__ = ["FILES", "HOW_TO_GET", "INFO", "find_dir", "load"]

INFO = DatasetInfo(
    name="cifar10",
    channels=3,
    image_size=32,
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    n_train=50_000,
    n_test=10_000,
    n_heldout=5_000,
    hflip=True,
    pad=4,
    classes=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
)
FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_MD5 = "c58f30108f718f92721af3b95e74349a"
HOW_TO_GET = (
    "Download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it "
    "and pass the folder holding data_batch_1..5 and test_batch (or its parent) with --data-dir or "
    "$BUDGETNAS_DATA."
)


def find_dir(data_dir: str | os.PathLike | None) -> Path:
    files = FILES["train"] + FILES["test"]
    # accept <root>/cifar10/cifar-10-batches-py as well as <root>/cifar10 and the folder itself
    for root in (data_dir, os.environ.get("BUDGETNAS_DATA")):
        if root:
            for sub in ("cifar-10-batches-py", "cifar10/cifar-10-batches-py"):
                if all((Path(root) / sub / f).is_file() for f in files):
                    return Path(root) / sub
            break
    folder = resolve_dir("cifar10", files, data_dir, (), HOW_TO_GET)
    if folder is not None:
        return folder
    cached = cache_root() / "cifar10" / "cifar-10-batches-py"
    if all((cached / f).is_file() for f in files):
        return cached
    dest = download({"cifar-10-python.tar.gz": (_URL, _MD5)}, cache_root() / "cifar10", HOW_TO_GET)
    with tarfile.open(dest / "cifar-10-python.tar.gz") as tar:
        tar.extractall(dest, filter="data")
    return cached


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = load_plain_pickle(f, encoding="bytes")  # arrays and plain data only
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except FileNotFoundError as err:
        raise DataError(f"{path} not found. {HOW_TO_GET}") from err
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"{path} is truncated or corrupt ({type(err).__name__}: {err}). {HOW_TO_GET}"
        ) from err
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(f"{path} does not hold CIFAR-10 images (shape {data.shape}). {HOW_TO_GET}")
    return data.reshape(-1, 3, 32, 32), labels


@lru_cache(maxsize=4)
def _load(folder: str, part: str, _mtime: float) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [_read_batch(Path(folder) / f) for f in FILES[part]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def load(part: str, data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(uint8 images N x 3 x 32 x 32, int64 labels)`` of ``part`` ("train" or "test")."""
    folder = find_dir(data_dir)
    mtime = max((folder / f).stat().st_mtime for f in FILES[part])
    return _load(str(folder), part, mtime)
