"""Image files to uint8 arrays with Pillow: which files are images, their header sizes, and one
square of a fixed side in one colour mode.

Every image becomes ``mode`` (``"L"``: one channel, ``"RGB"``: three; palette, RGBA, CMYK, 16-bit
and the rest are converted, transparency over black) and, unless it is already ``size x size``,
its shorter side is resized to ``size`` (bilinear) and the centre ``size x size`` cropped.

Example:
    >>> from PIL import Image
    >>> img = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    >>> arr = to_square(img, 10, "RGB")
    >>> arr.shape, int(arr[0, 0, 0]), int(arr[1, 0, 0])
    ((3, 10, 10), 255, 0)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "MODES",
    "SINGLE_CHANNEL",
    "is_image_file",
    "load_image",
    "read_header",
    "to_square",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")  # compared in lower case
MODES = {"L": 1, "RGB": 3}  # the modes of a dataset and their channels
# Pillow modes that hold one channel of intensities (LA: with transparency)
SINGLE_CHANNEL = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an image that the folder datasets read (by its suffix, in any case;
    hidden files are not)."""
    name = os.path.basename(path)
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def read_header(path: str | os.PathLike) -> tuple[int, int, str]:
    """``(width, height, Pillow mode)`` of image file ``path``, from its header only; a file that
    is not an image raises ``OSError`` (or ``ValueError``)."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size[0], img.size[1], img.mode


def _convert(img, mode: str):
    """``img`` in ``mode``; transparency is composed over black, 16-bit and float intensities
    scaled to 8 bits."""
    from PIL import Image

    if img.mode == mode:
        return img
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max(initial=0)
        if img.mode == "F" and peak <= 1.0:  # float intensities in [0, 1]
            top = 1.0
        else:
            top = 65535.0 if img.mode.startswith("I;16") or peak > 255 else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        base = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(base, img.convert("RGBA"))
    return img.convert(mode)


def to_square(img, size: int, mode: str) -> np.ndarray:
    """The uint8 ``C x size x size`` array of Pillow image ``img``: converted to ``mode``, the
    shorter side resized to ``size`` (bilinear) and the centre square cropped, unless it is
    already ``size x size``."""
    from PIL import Image

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    img = _convert(img, mode)
    w, h = img.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_image(path: str | os.PathLike, size: int, mode: str) -> np.ndarray:
    """Decode image file ``path`` to a uint8 ``C x size x size`` array (see :func:`to_square`);
    a file that cannot be decoded raises ``OSError`` or ``ValueError``."""
    from PIL import Image

    with Image.open(Path(path)) as img:
        img.load()
        return to_square(img, size, mode)
