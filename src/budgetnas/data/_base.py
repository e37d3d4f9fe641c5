"""Shared pieces of the data package: dataset metadata, the error type, the in-memory dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

SPLITS = ("train", "search-train", "heldout", "test")
# The held-out split is drawn from the training set with this fixed seed, never from ``seed``:
# it must be the same in every run, so that search never sees the images it is scored on.
HELDOUT_SEED = 20_240_607


class DataError(FileNotFoundError):
    """A dataset file is missing, truncated or corrupt; the message names the path and the fix."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset."""

    name: str
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_train: int
    n_test: int
    n_heldout: int
    hflip: bool = True  # horizontal flip is a label-preserving augmentation for this data
    pad: int = 4  # padding of the random-crop augmentation
    classes: tuple[str, ...] | None = None  # the class names, by label
    notes: tuple[str, ...] = ()  # how the splits were made, what was skipped: a sentence each


def heldout_indices(n_train: int, n_heldout: int) -> np.ndarray:
    """The fixed, sorted indices of the held-out part of a training set of ``n_train`` images."""
    perm = np.random.default_rng(HELDOUT_SEED).permutation(n_train)
    return np.sort(perm[:n_heldout])


def subset_indices(pool: np.ndarray, subset: int | None, seed: int) -> np.ndarray:
    """``subset`` of the indices ``pool`` chosen with ``seed``, sorted (all of ``pool`` when
    ``subset`` is ``None`` or not smaller): the one way every dataset keeps a subset.

    Example:
        >>> picked = subset_indices(np.arange(10, 20), 3, seed=0)
        >>> len(picked), bool((np.diff(picked) > 0).all()), set(picked.tolist()) <= set(range(10, 20))
        (3, True, True)
        >>> subset_indices(np.arange(4), None, seed=0).tolist()
        [0, 1, 2, 3]
    """
    if subset is None:
        return pool
    if subset <= 0:
        raise ValueError(f"subset must be positive, got {subset}")
    if subset >= len(pool):
        return pool
    pick = np.random.default_rng(seed).permutation(len(pool))[:subset]
    return np.sort(pool[pick])


def split_indices(info: DatasetInfo, split: str) -> np.ndarray | None:
    """Indices into the train (or test) arrays for ``split``; ``None`` means all of them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split in ("train", "test"):
        return None
    held = heldout_indices(info.n_train, info.n_heldout)
    if split == "heldout":
        return held
    mask = np.ones(info.n_train, dtype=bool)
    mask[held] = False
    return np.flatnonzero(mask)


class NormalizedImages(Dataset):
    """The normalization and augmentation shared by the datasets of uint8 images: a uint8
    ``C x H x W`` image becomes ``(image / 255 - mean) / std``; augmentation is a random crop
    with zero padding of ``pad`` pixels, then a horizontal flip with probability 1/2 when
    ``hflip``, drawn from torch's global RNG."""

    mean: torch.Tensor
    std: torch.Tensor
    augment: bool
    pad: int
    hflip: bool

    def _set_normalization(
        self, channels: int, mean, std, augment: bool, pad: int, hflip: bool
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(channels, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(channels, 1, 1)
        self.augment = augment
        self.pad = pad
        self.hflip = hflip

    def _normalize(self, img: torch.Tensor) -> torch.Tensor:
        return (img.float().div_(255.0) - self.mean) / self.std

    def _item(self, img: torch.Tensor) -> torch.Tensor:
        """The normalized (and, when ``augment``, augmented) float image of uint8 ``img``."""
        out = self._normalize(img)
        return self._augment(out) if self.augment else out

    def _augment(self, img: torch.Tensor) -> torch.Tensor:
        _, h, w = img.shape
        if self.pad > 0:
            # pad in normalized space with the value of a black pixel, as padding the raw image
            black = (-self.mean / self.std).expand(-1, h + 2 * self.pad, w + 2 * self.pad)
            padded = black.clone()
            padded[:, self.pad : self.pad + h, self.pad : self.pad + w] = img
            dy, dx = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
            img = padded[:, dy : dy + h, dx : dx + w]
        if self.hflip and bool(torch.rand(()) < 0.5):
            img = img.flip(-1)
        return img.contiguous()


class ImageTensorDataset(NormalizedImages):
    """Images held in memory as uint8 ``N x C x H x W``; yields normalized float tensors.

    Augmentation (random crop with zero padding of ``pad`` pixels, then a horizontal flip with
    probability 1/2 when ``hflip``) draws from torch's global RNG, so a run that saves and restores
    ``torch.get_rng_state()`` sees the same augmented images.

    Example:
        >>> import torch
        >>> ds = ImageTensorDataset(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]),
        ...                         mean=(0.5,), std=(0.5,))
        >>> x, y = ds[1]
        >>> tuple(x.shape), y, float(x[0, 0, 0])
        ((1, 8, 8), 1, -1.0)
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augment: bool = False,
        pad: int = 4,
        hflip: bool = True,
    ):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor N x C x H x W")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()
        self._set_normalization(images.shape[1], mean, std, augment, pad, hflip)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self._item(self.images[index]), int(self.labels[index])

    def subset(self, indices: np.ndarray) -> ImageTensorDataset:
        """A dataset over ``indices`` only (shares nothing mutable with ``self``)."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        out = ImageTensorDataset.__new__(ImageTensorDataset)
        out.__dict__.update(self.__dict__)
        out.images = self.images[idx]
        out.labels = self.labels[idx]
        return out
