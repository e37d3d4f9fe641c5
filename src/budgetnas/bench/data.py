"""``budgetnas bench data folder``: what decoding an image folder costs, and that it is paid once.

On a fresh cache folder (a temporary one, removed afterwards, so the user's caches are left
alone), three passes over the search-train split of ``folder:PATH``, each the way training reads
it (:func:`budgetnas.data.make_loader`, augmentation on, ``batch_size`` images per batch):

* **epoch 1**: opening the dataset decodes every image into the cache, then one pass;
* **epoch 2**: opening it again reads the cache (memory-mapped uint8 arrays), then one pass;
  the images decoded during it are counted (they must be none);
* **streaming**: the same folder as a folder too big to cache (every image decoded on access,
  through ``num_workers`` DataLoader workers), one pass over ``stream_images`` images, to show
  what the cache saves.

Reported: seconds of each epoch, with its opening part; images decoded in each; images per
second of a pass from the cache and of the streaming pass; the machine.

Example (a small folder)::

    budgetnas bench data folder --data folder:~/data/pets --batch-size 128
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from budgetnas.bench._base import json_text, register_benchmark, written_json
from budgetnas.config import option

__all__ = ["DataBenchConfig", "folder_decoding", "run_folder_decoding"]


@dataclass
class DataBenchConfig:
    """Settings of ``budgetnas bench data folder``."""

    data: str = option("", "(required) the image folder, as folder:PATH")
    image_size: int | None = option(
        None, "image side in pixels (none: the most common size in the folder)"
    )
    batch_size: int = option(128, "images per batch of each pass")
    stream_images: int = option(5000, "images of the streaming pass (0: no streaming pass)")
    num_workers: int = option(2, "DataLoader workers of the streaming pass")
    json: str | None = option(None, "also write the result here (default: none)")


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _counted_decodes() -> Iterator[list[int]]:
    """Counts the images decoded in this process while the block runs."""
    from budgetnas.data import images

    count = [0]
    real = images.load_image

    def counting(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    images.load_image = counting
    try:
        yield count
    finally:
        images.load_image = real


def _clear_opened() -> None:
    """Forget the datasets opened in this process (the next open reads the disk again)."""
    from budgetnas.data import sources

    for fn in (sources._opened_at, sources._info_of):
        fn.cache_clear()


def _pass(dataset, batch_size: int, num_workers: int = 0) -> tuple[float, int]:
    from budgetnas.data import make_loader

    t0 = time.perf_counter()
    n = 0
    for x, _ in make_loader(dataset, batch_size, shuffle=True, seed=0, num_workers=num_workers):
        n += len(x)
    return time.perf_counter() - t0, n


def _epoch(cfg: DataBenchConfig, kw: dict) -> dict:
    from budgetnas.data import get_dataset

    _clear_opened()
    with _counted_decodes() as decoded:
        t0 = time.perf_counter()
        ds = get_dataset(cfg.data, "search-train", augment=True, **kw)
        opened = time.perf_counter() - t0
        seconds, n = _pass(ds, cfg.batch_size)
    return {
        "seconds": opened + seconds,
        "open_s": opened,
        "pass_s": seconds,
        "images": n,
        "images_per_s": n / seconds,
        "decoded_in_process": decoded[0],
    }


def folder_decoding(cfg: DataBenchConfig) -> dict:
    """The benchmark (module docstring)."""
    from budgetnas.data import dataset_info
    from budgetnas.data.folder import ENV_CACHE_GB
    from budgetnas.data.paths import ENV_CACHE

    if not cfg.data.startswith("folder:"):
        raise ValueError(f"--data must name an image folder as folder:PATH, got {cfg.data!r}")
    kw = {} if cfg.image_size is None else {"image_size": cfg.image_size}
    with tempfile.TemporaryDirectory(prefix="budgetnas-bench-") as cache:
        with _environ(**{ENV_CACHE: cache}):
            first = _epoch(cfg, kw)  # builds the cache (decodes every image)
            second = _epoch(cfg, kw)  # reads it
            info = dataset_info(cfg.data, **kw)
            stream = None
            if cfg.stream_images > 0:
                stream = _streaming(cfg, kw)
    # the first epoch decoded every image (in worker processes from a few thousand images on,
    # so the count in this process may be lower): the cache holds them all
    return {
        "data": info.name,
        "image_size": info.image_size,
        "channels": info.channels,
        "images": info.n_train + info.n_test,
        "epoch_1": first,
        "epoch_2": second,
        "epoch_1_over_2": first["seconds"] / second["seconds"],
        "streaming": stream,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "note": "epoch = opening the search-train split + one augmented pass through "
        "make_loader; a fresh temporary cache folder, removed after",
        **_env_note(ENV_CACHE_GB),
    }


def _streaming(cfg: DataBenchConfig, kw: dict) -> dict:
    from budgetnas.data import get_dataset
    from budgetnas.data.folder import ENV_CACHE_GB

    _clear_opened()
    with _environ(**{ENV_CACHE_GB: "0"}):  # too big to cache: decode on access
        ds = get_dataset(
            cfg.data, "search-train", augment=True, subset=cfg.stream_images, seed=0, **kw
        )
        seconds, n = _pass(ds, cfg.batch_size, cfg.num_workers)
    _clear_opened()
    return {
        "images": n,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "num_workers": cfg.num_workers,
    }


def _env_note(name: str) -> dict:
    value = os.environ.get(name)
    return {} if value is None else {name: value}


def _summary(result: dict) -> str:
    e1, e2 = result["epoch_1"], result["epoch_2"]
    lines = [
        json_text(result),
        "",
        f"epoch 1 (decoding into the cache): {e1['seconds']:.1f} s; epoch 2 (from the cache): "
        f"{e2['seconds']:.1f} s, {e2['decoded_in_process']} images decoded; "
        f"{result['epoch_1_over_2']:.1f}x",
    ]
    if result["streaming"]:
        s = result["streaming"]
        lines.append(
            f"streaming (no cache, {s['num_workers']} workers): {s['images_per_s']:.0f} images/s "
            f"against {e2['images_per_s']:.0f} from the cache"
        )
    return "\n".join(lines)


@register_benchmark(
    "data folder",
    "decoding an image folder: the first epoch (decoding into the cache) against the second "
    "(reading it), and streaming without a cache",
    DataBenchConfig,
    _summary,
    required=("data",),
)
def run_folder_decoding(cfg: DataBenchConfig) -> dict:
    """:func:`folder_decoding`, also written to ``cfg.json`` when given."""
    return written_json(folder_decoding(cfg), cfg.json)
