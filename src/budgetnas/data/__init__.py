"""Datasets and loaders, without torchvision.

``get_dataset(name, split)`` returns a map-style dataset of ``(normalized float C x H x W tensor,
int label)``. Names: ``"fashion-mnist"`` (IDX gz), ``"cifar10"`` (python pickle batches),
``"synthetic"`` (generated, for tests), ``"folder:PATH"`` (an image folder
``PATH/train/<class>/*``, optionally ``PATH/val/``, ``PATH/test/``; decoded once into a cache:
:mod:`budgetnas.data.folder`) and ``"arrays:DIR"`` (any dataset written once with
:func:`write_arrays`). Splits: ``"train"`` (the whole training set), ``"search-train"`` (train
minus held-out), ``"heldout"`` (a fixed part of the training set, the same in every run: 10,000
images for Fashion-MNIST, 5,000 for CIFAR-10, ``val/`` or a fixed 10% of a folder), ``"test"``.
Folder and arrays data take the options ``image_size`` and ``strict`` (:func:`data_options`
reads them from a configuration).

Files are found from ``data_dir`` (``--data-dir``), then ``$BUDGETNAS_DATA`` (a folder holding
``fashion-mnist/``, ``cifar10/``), then ``/usr/share/datasets/fashion-mnist``, then the download
cache (``$BUDGETNAS_CACHE``, default ``~/.cache/budgetnas/data``), downloading into it if needed.
Missing or damaged files raise :class:`DataError` naming the path and how to get the data.

Importing this package needs no torch: the loaders import it when they are called, and the names
of :mod:`budgetnas.data._base` are imported on first use.

Example:
    >>> ds = get_dataset("synthetic", "train", image_size=8, channels=1)
    >>> x, y = ds[0]
    >>> tuple(x.shape), isinstance(y, int)
    ((1, 8, 8), True)
    >>> batch_x, batch_y = next(iter(make_loader(ds, batch_size=16, shuffle=True)))
    >>> tuple(batch_x.shape)
    (16, 1, 8, 8)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from budgetnas.lazy import lazy_dir, lazy_exports

if TYPE_CHECKING:
    from collections.abc import Iterable

    import torch

    from budgetnas.data._base import DatasetInfo, ImageTensorDataset

DATASETS = ("fashion-mnist", "cifar10", "synthetic")
_ALIASES = {"fmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "cifar-10": "cifar10"}


PATH_KINDS = ("folder", "arrays")  # names "folder:PATH" and "arrays:DIR"
DATA_HELP = "fashion-mnist, cifar10, synthetic, folder:PATH (an image folder) or arrays:DIR"


def _is_path_name(name: str) -> bool:
    kind, sep, _ = str(name).partition(":")
    return bool(sep) and kind.lower() in PATH_KINDS


def resolved_name(name: str) -> str:
    """``name`` with the path of ``folder:PATH`` / ``arrays:DIR`` made absolute (a configuration
    saved with it reopens the same data from any working directory); other names unchanged.

    Example:
        >>> resolved_name("cifar10")
        'cifar10'
        >>> resolved_name("folder:~/pets") == "folder:" + str(Path("~/pets").expanduser().resolve())
        True
    """
    kind, sep, rest = str(name).partition(":")
    if not (sep and kind.lower() in PATH_KINDS and rest):
        return name
    return f"{kind.lower()}:{Path(rest).expanduser().resolve()}"


def _canonical(name: str) -> str:
    name = _ALIASES.get(name.lower(), name.lower())
    if name not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, folder:PATH "
            "or arrays:DIR"
        )
    return name


def data_options(cfg: object) -> dict:
    """The dataset options set on configuration ``cfg`` (its ``image_size`` and ``strict``, when
    it has them), as keyword arguments of :func:`get_dataset` and :func:`dataset_info`.

    Folder and arrays data get what is set; other data none, except that ``image_size`` shapes
    ``"synthetic"`` data and is a ``ValueError`` for the datasets of fixed size.

    Example:
        >>> from types import SimpleNamespace
        >>> data_options(SimpleNamespace(data="folder:pets", image_size=64, strict=False))
        {'image_size': 64}
        >>> data_options(SimpleNamespace(data="cifar10", image_size=None, strict=True))
        {}
    """
    data = str(getattr(cfg, "data", ""))
    image_size = getattr(cfg, "image_size", None)
    strict = bool(getattr(cfg, "strict", False))
    if _is_path_name(data):
        out: dict = {} if image_size is None else {"image_size": image_size}
        return {**out, "strict": True} if strict else out
    if image_size is None:
        return {}
    if _ALIASES.get(data.lower(), data.lower()) == "synthetic":
        return {"image_size": image_size}
    raise ValueError(
        f"image_size is an option of folder data (folder:PATH); {data!r} has images of a fixed "
        "size: leave image_size unset"
    )


def dataset_info(name: str, **kwargs) -> DatasetInfo:
    """Shape, classes, normalization and split sizes of dataset ``name`` (reads no files, but
    the first call on a ``"folder:PATH"`` decodes its images into the cache).

    ``kwargs`` set the shape of ``"synthetic"`` (channels, image_size, num_classes, n_train,
    n_test, n_heldout), and ``image_size`` and ``strict`` of folder and arrays data.
    """
    if _is_path_name(name):
        from budgetnas.data.sources import prepared_info

        return prepared_info(name, **kwargs)
    name = _canonical(name)
    if name == "synthetic":
        from budgetnas.data import synthetic

        return synthetic.info(**kwargs)
    if kwargs:
        raise ValueError(f"dataset {name!r} takes no options, got {sorted(kwargs)}")
    if name == "fashion-mnist":
        from budgetnas.data import fmnist

        return fmnist.INFO
    from budgetnas.data import cifar

    return cifar.INFO


def get_dataset(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    augment: bool = False,
    subset: int | None = None,
    seed: int = 0,
    **kwargs,
) -> ImageTensorDataset:
    """The ``split`` of dataset ``name``; ``subset=N`` keeps N images chosen with ``seed``.

    Folder and arrays data ignore ``data_dir`` (their path is in the name); a folder too big to
    cache gives a :class:`~budgetnas.data.folder.FolderImageDataset` (decoding on access, for
    loader workers) instead of an :class:`ImageTensorDataset`.
    """
    from budgetnas.data._base import SPLITS, ImageTensorDataset, split_indices, subset_indices

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if _is_path_name(name):
        from budgetnas.data.sources import get_prepared

        return get_prepared(name, split, augment=augment, subset=subset, seed=seed, **kwargs)
    name = _canonical(name)
    info = dataset_info(name, **kwargs)
    part = "test" if split == "test" else "train"
    if name == "fashion-mnist":
        from budgetnas.data import fmnist

        images, labels = fmnist.load(part, data_dir)
    elif name == "cifar10":
        from budgetnas.data import cifar

        images, labels = cifar.load(part, data_dir)
    else:
        from budgetnas.data import synthetic

        images, labels = synthetic.load(part, info)
    ds = ImageTensorDataset(
        images, labels, info.mean, info.std, augment=augment, pad=info.pad, hflip=info.hflip
    )
    idx = split_indices(info, split)
    if subset is not None:
        idx = subset_indices(np.arange(len(ds)) if idx is None else idx, subset, seed)
    return ds if idx is None else ds.subset(idx)


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    device: torch.device | str | None = None,
    pin_memory: bool | None = None,
) -> Iterable:
    """A loader whose shuffling (and worker seeds) depend only on ``seed``.

    An in-memory :class:`ImageTensorDataset` without workers gets a
    :class:`~budgetnas.data.batches.TensorBatchLoader` (whole batches indexed, augmented and
    normalized as tensors: the same order and images as a DataLoader, several times faster);
    anything else a ``torch.utils.data.DataLoader``.

    ``device`` is where the batches are used. On CUDA, an ``ImageTensorDataset`` that fits
    (:func:`~budgetnas.data.batches.fits_on_device`) stays on the GPU and the loader yields
    device tensors; otherwise the batches come in pinned memory (``pin_memory``, default: on
    CUDA) for the loops' ``non_blocking`` copies. On the CPU (``None``) nothing changes.

    A folder too big to cache (:class:`~budgetnas.data.folder.FolderImageDataset`, decoding
    every image on access) streams through worker processes: ``num_workers=0`` means one per
    core there (at most 8), so decoding does not stall the training loop.
    """
    import torch
    from torch.utils.data import DataLoader

    from budgetnas.data._base import ImageTensorDataset
    from budgetnas.data.batches import TensorBatchLoader, fits_on_device

    dev = torch.device(device) if device is not None else torch.device("cpu")
    pin = dev.type == "cuda" if pin_memory is None else bool(pin_memory)
    generator = torch.Generator()
    generator.manual_seed(seed)
    if isinstance(dataset, ImageTensorDataset) and num_workers == 0:
        resident = fits_on_device(dataset, dev)
        return TensorBatchLoader(
            dataset,
            batch_size,
            shuffle,
            generator,
            drop_last,
            device=dev,
            resident=resident,
            pin_memory=pin and not resident,
        )
    from budgetnas.data.folder import FolderImageDataset

    if isinstance(dataset, FolderImageDataset) and num_workers == 0:
        num_workers = min(8, os.cpu_count() or 1)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        drop_last=drop_last,
        persistent_workers=False,
        pin_memory=pin,
    )


__getattr__ = lazy_exports(
    __name__,
    {
        "SPLITS": "budgetnas.data._base",
        "DataError": "budgetnas.data._base",
        "DatasetInfo": "budgetnas.data._base",
        "ImageTensorDataset": "budgetnas.data._base",
        "write_arrays": "budgetnas.data.convert",
    },
)
__dir__ = lazy_dir(__name__)


__all__ = [
    "DATASETS",
    "DATA_HELP",
    "PATH_KINDS",
    "SPLITS",
    "DataError",
    "DatasetInfo",
    "ImageTensorDataset",
    "data_options",
    "dataset_info",
    "get_dataset",
    "make_loader",
    "resolved_name",
    "write_arrays",
]
