"""Image folders for tests: PNG and JPEG files of mixed-case suffixes under odd class names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("dots.in.name", "t-shirt top", "ü class")  # sorted: the labels are 0, 1, 2
EXTS = (".png", ".PNG", ".jpg", ".Jpeg", ".JPG")


def _gray_images(n: int) -> np.ndarray:
    """``n`` 28x28 grayscale images: Fashion-MNIST when it is found, else synthetic ones."""
    try:
        from budgetnas.data import fmnist

        images, _ = fmnist.load("train")
    except Exception:  # no Fashion-MNIST on this machine: images of the synthetic set
        from budgetnas.data import synthetic

        images, _ = synthetic.load("train", synthetic.info(1, 28, 4, n_train=max(n, 16)))
    return images[:n, 0].numpy()


def make_folder(
    root: Path,
    per_class: int = 30,
    rgb: bool = True,
    sub: str = "train",
    start: int = 0,
    classes=CLASSES,
) -> list[Path]:
    """``per_class`` images of every class under ``root/sub/<class>/``, PNG and JPEG files with
    suffixes of mixed case; RGB images stack a gray image with its negative."""
    gray = _gray_images(start + per_class * len(classes))
    written = []
    k = start
    for c in classes:
        folder = root / sub / c
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(per_class):
            a = gray[k]
            img = Image.fromarray(np.stack([a, a // 2, 255 - a], -1) if rgb else a)
            path = folder / f"img {k}{EXTS[k % len(EXTS)]}"
            img.save(path, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
            written.append(path)
            k += 1
    return written
