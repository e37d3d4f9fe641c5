"""Any map-style dataset of ``(image, label)`` pairs as budgetnas data: :func:`write_arrays`
converts it once into the prepared-arrays format and returns the name to pass as ``--data``.

An image is a PIL image, a numpy uint8 array (``H x W``, ``H x W x C`` or ``C x H x W``), a torch
uint8 tensor ``C x H x W`` or a float tensor ``C x H x W`` in [0, 1]. The images get one mode
(grayscale when nearly all have one channel, else RGB) and one side (``image_size``, by default
the most common shorter side), as the images of a folder dataset do.

Example:
    >>> import tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> train = TensorDataset(torch.rand(20, 3, 8, 8), torch.arange(20) % 2)
    >>> name = write_arrays(train, tempfile.mkdtemp(), classes=["even", "odd"])
    >>> from budgetnas.data import dataset_info
    >>> info = dataset_info(name)
    >>> info.classes, info.channels, info.image_size, info.n_train + info.n_test
    (('even', 'odd'), 3, 8, 20)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.data import images as image_files
from budgetnas.data.arrays import (
    HELDOUT,
    SEARCH,
    assign_parts,
    building,
    channel_stats,
    image_meta,
    write_contents,
)
from budgetnas.data.folder import choose_mode, choose_size

__all__ = ["as_uint8", "write_arrays"]


def as_uint8(image: Any, where: str) -> np.ndarray:
    """``image`` (see the module docstring) as a uint8 ``H x W`` or ``H x W x C`` array, or a
    PIL image left as it is; another kind raises ``ValueError`` naming ``where``."""
    try:
        from PIL import Image

        if isinstance(image, Image.Image):
            return image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        pass
    kind = type(image).__name__
    if type(image).__module__.startswith("torch"):
        import torch

        if not isinstance(image, torch.Tensor) or image.ndim != 3:
            raise ValueError(
                f"{where}: expected a C x H x W tensor, got {kind} {tuple(getattr(image, 'shape', ()))}"
            )
        if image.dtype == torch.uint8:
            arr = image.numpy()
        elif image.is_floating_point():
            x = image.detach().float()
            if float(x.min()) < 0.0 or float(x.max()) > 1.0:
                raise ValueError(
                    f"{where}: a float image must lie in [0, 1] (un-normalized), got values in "
                    f"[{float(x.min()):.3g}, {float(x.max()):.3g}]"
                )
            arr = (x * 255.0).round().to(torch.uint8).numpy()
        else:
            raise ValueError(f"{where}: a tensor image must be uint8 or float, got {image.dtype}")
        return _channels_last(arr, where, channels_first=True)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"{where}: a numpy image must be uint8, got {image.dtype}")
        if image.ndim == 2:
            return image
        return _channels_last(image, where, channels_first=None)
    raise ValueError(
        f"{where}: an image must be a PIL image, a uint8 numpy array or a C x H x W tensor, "
        f"got {kind}"
    )


def _channels_last(arr: np.ndarray, where: str, channels_first: bool | None) -> np.ndarray:
    if arr.ndim != 3:
        raise ValueError(f"{where}: expected an image of 2 or 3 dimensions, got shape {arr.shape}")
    if channels_first is None:  # numpy: H x W x C unless the first axis looks like channels
        channels_first = arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4)
    if channels_first:
        arr = arr.transpose(1, 2, 0)
    if arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{where}: an image needs 1, 3 or 4 channels, got shape {arr.shape}")
    return arr[..., 0] if arr.shape[2] == 1 else np.ascontiguousarray(arr)


def _to_pil(image):
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    mode = {2: "L"}.get(image.ndim) or {3: "RGB", 4: "RGBA"}[image.shape[2]]
    return Image.fromarray(image, mode)


def _size_and_mode(image) -> tuple[tuple[int, int], str]:
    if hasattr(image, "size") and not isinstance(image, np.ndarray):  # PIL
        return image.size, image.mode
    h, w = image.shape[:2]
    return (w, h), "L" if image.ndim == 2 else "RGB"


def _samples(dataset, origin: int, name: str, num_classes: int | None):
    out = []
    for i in range(len(dataset)):
        sample = dataset[i]
        where = f"{name}[{i}]"
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise ValueError(
                f"{where}: expected an (image, label) pair, got {type(sample).__name__}"
            )
        image, label = sample
        if hasattr(label, "item") and getattr(label, "ndim", 0) == 0:
            label = label.item()
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise ValueError(f"{where}: the label must be an int, got {type(label).__name__}")
        label = int(label)
        if label < 0 or (num_classes is not None and label >= num_classes):
            top = "" if num_classes is None else f"..{num_classes - 1}"
            raise ValueError(f"{where}: label {label} is not a class (0{top})")
        out.append((as_uint8(image, where), label, origin))
    return out


def write_arrays(
    train: Any,
    out_dir: str | os.PathLike,
    *,
    test: Any = None,
    val: Any = None,
    classes: Sequence[str] | None = None,
    image_size: int | None = None,
) -> str:
    """Write the map-style datasets ``train`` (and optionally ``test``, ``val``) of
    ``(image, label)`` pairs to ``out_dir`` in the prepared-arrays format; returns the data name
    ``"arrays:OUT_DIR"`` (resolved), usable as ``--data`` and by worker processes.

    Without ``test``, a fixed 10% of every class of ``train`` is held out as the test split;
    ``val`` is the search's held-out split (else a fixed 10% of every class of the rest of
    ``train``); the dataset's notes say which. Labels are ints in ``0..K-1``, ``K`` being
    ``len(classes)`` when given (else the largest label + 1; classes are then named by number).
    """
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size!r}")
    k = None if classes is None else len(classes)
    samples = _samples(train, 0, "train", k)
    if not samples:
        raise ValueError("train holds no samples")
    if val is not None:
        samples += _samples(val, 1, "val", k)
    if test is not None:
        samples += _samples(test, 2, "test", k)
    labels = np.array([s[1] for s in samples], dtype=np.int64)
    origin = np.array([s[2] for s in samples], dtype=np.int8)
    if classes is None:
        classes = [str(c) for c in range(int(labels.max()) + 1)]
    shapes = [_size_and_mode(s[0]) for s in samples]
    mode = choose_mode([m for _, m in shapes])
    size = image_size or choose_size([wh for wh, _ in shapes])
    channels = image_files.MODES[mode]
    images = np.empty((len(samples), channels, size, size), dtype=np.uint8)
    for i, (image, _, _) in enumerate(samples):
        images[i] = _square(image, size, mode, channels)
    parts, notes = assign_parts(labels, origin, ("train", "val", "test"), "dataset")
    mean, std = channel_stats(images, np.flatnonzero(np.isin(parts, (SEARCH, HELDOUT))))
    out = Path(out_dir).expanduser().resolve()
    meta = image_meta(f"arrays:{out}", classes, labels, size, mode, mean, std, notes)
    with building(out) as tmp:
        write_contents(tmp, images, labels, parts, meta)
    return f"arrays:{out}"


def _square(image, size: int, mode: str, channels: int) -> np.ndarray:
    """``image`` as uint8 ``C x size x size``: without Pillow when it already is that."""
    if isinstance(image, np.ndarray) and image.shape[:2] == (size, size):
        if mode == "L" and image.ndim == 2:
            return image[None]
        if mode == "RGB" and image.ndim == 3 and image.shape[2] == 3:
            return image.transpose(2, 0, 1)
    arr = _to_pil(image) if isinstance(image, np.ndarray) else image
    return image_files.to_square(arr, size, mode)
