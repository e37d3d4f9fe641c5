"""A small synthetic image-classification set for tests: learnable, deterministic, no files.

Each class has a fixed random smooth template; an image is its class template, randomly shifted by
up to 2 pixels, scaled, plus noise. A small network learns it in a few steps, so training tests can
assert that the loss goes down.
"""

from __future__ import annotations

import numpy as np
import torch

from budgetnas.data._base import DatasetInfo

__all__ = ["TEMPLATE_SEED", "info", "load"]

TEMPLATE_SEED = 7
_SPLIT_SEEDS = {"train": 1, "test": 2}


def info(
    channels: int = 3,
    image_size: int = 16,
    num_classes: int = 4,
    n_train: int = 256,
    n_test: int = 128,
    n_heldout: int = 64,
) -> DatasetInfo:
    return DatasetInfo(
        name="synthetic",
        channels=channels,
        image_size=image_size,
        num_classes=num_classes,
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
        n_train=n_train,
        n_test=n_test,
        n_heldout=n_heldout,
        hflip=False,
        pad=2,
    )


def load(part: str, inf: DatasetInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """``(uint8 images, labels)`` of ``part`` ("train" or "test"), a pure function of its args."""
    c, s, k = inf.channels, inf.image_size, inf.num_classes
    trng = np.random.default_rng(TEMPLATE_SEED)
    coarse = trng.uniform(0, 1, size=(k, c, 4, 4))
    rep = -(-s // 4)
    templates = np.kron(coarse, np.ones((rep, rep)))[..., :s, :s]
    n = inf.n_train if part == "train" else inf.n_test
    rng = np.random.default_rng(_SPLIT_SEEDS[part])
    labels = rng.integers(0, k, size=n)
    shifts = rng.integers(-2, 3, size=(n, 2))
    scale = rng.uniform(0.7, 1.0, size=(n, 1, 1, 1))
    imgs = templates[labels]
    imgs = np.stack(
        [np.roll(im, tuple(sh), axis=(-2, -1)) for im, sh in zip(imgs, shifts, strict=True)]
    )
    imgs = imgs * scale + rng.normal(0, 0.15, size=imgs.shape)
    imgs = np.clip(imgs * 255, 0, 255).astype(np.uint8)
    return torch.from_numpy(imgs), torch.from_numpy(labels.astype(np.int64))
