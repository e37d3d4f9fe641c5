"""Whole batches from an in-memory uint8 dataset: indexing, augmentation and normalisation done
once per batch on tensors, with no Python work per image.

:class:`TensorBatchLoader` is what :func:`budgetnas.data.make_loader` returns for an
:class:`~budgetnas.data.ImageTensorDataset` without workers. It yields the same batches as a
``DataLoader`` over the dataset would: the same order on every pass (the permutations of the
loader's generator, drawn as ``RandomSampler`` draws them), the same images without
augmentation; with augmentation the same kind of random crop (zero padding of ``pad`` pixels of
the raw image) and horizontal flip, drawn per batch from torch's global RNG (a checkpoint that
saves and restores ``torch.get_rng_state()`` sees the same augmented batches).

On a GPU the loader can keep the uint8 images and labels on the device (``resident=True``,
what :func:`budgetnas.data.make_loader` chooses on CUDA when they fit, :func:`fits_on_device`):
indexing, augmentation and normalisation then run there and the batches are device tensors,
with no copy per batch. The random numbers (order, crops, flips) are still drawn on the CPU
from the same generators, then moved: the batches are those of the host path, on the device.
Otherwise ``pin_memory=True`` yields batches in pinned memory, which the training loops copy
with ``non_blocking=True`` (:meth:`budgetnas.devices.Runtime.move`).

Example:
    >>> import torch
    >>> from budgetnas.data._base import ImageTensorDataset
    >>> ds = ImageTensorDataset(torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 1, 2, 2),
    ...                         torch.arange(4), mean=(0.0,), std=(1 / 255,))
    >>> loader = TensorBatchLoader(ds, batch_size=3, shuffle=False)
    >>> [(x[:, 0, 0, 0].tolist(), y.tolist()) for x, y in loader]
    [([0.0, 1.0, 2.0], [0, 1, 2]), ([3.0], [3])]
"""

from __future__ import annotations

import math
import weakref

import torch

__all__ = ["RESIDENT_MAX_BYTES", "TensorBatchLoader", "augment_batch", "fits_on_device"]

#: the largest dataset (uint8 images and labels) kept on a GPU: at most this, and at most half
#: of the device's free memory
RESIDENT_MAX_BYTES = 4 << 30

# the device copies of a dataset's tensors, made once per dataset and device (dropped with it)
_RESIDENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _nbytes(dataset) -> int:
    return sum(t.numel() * t.element_size() for t in (dataset.images, dataset.labels))


def fits_on_device(dataset, device) -> bool:
    """Whether ``dataset``'s uint8 images and labels may stay on the CUDA ``device``: at most
    :data:`RESIDENT_MAX_BYTES` and at most half of its free memory (never on other devices)."""
    device = torch.device(device)
    if device.type != "cuda":
        return False
    need = _nbytes(dataset)
    if need > RESIDENT_MAX_BYTES:
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return need <= free // 2


def _on_device(dataset, device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(images, labels, mean, std)`` of ``dataset`` on ``device`` (copied once)."""
    tensors = (dataset.images, dataset.labels, dataset.mean, dataset.std)
    if device.type == "cpu":
        return tensors
    per_device = _RESIDENT.setdefault(dataset, {})
    key = str(device)
    if key not in per_device:
        per_device[key] = tuple(t.to(device) for t in tensors)
    return per_device[key]


def augment_batch(images: torch.Tensor, pad: int, hflip: bool) -> torch.Tensor:
    """A random crop (after zero padding by ``pad`` pixels) and, when ``hflip``, a horizontal
    flip with probability 1/2, drawn independently for every image of the uint8 batch
    ``images`` (N x C x H x W) from torch's global RNG. The random numbers are drawn on the CPU
    whatever the device of ``images`` (the same draws, hence the same batches, on every device);
    only the small index tensors move to it.

    Example:
        >>> x = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4)
        >>> augment_batch(x, pad=0, hflip=False).equal(x)
        True
        >>> y = augment_batch(x.expand(64, 1, 4, 4), pad=1, hflip=True)
        >>> tuple(y.shape), int(y.max()) <= 15
        ((64, 1, 4, 4), True)
    """
    n, _, h, w = images.shape
    dev = images.device
    out = images
    if pad > 0:
        padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,)).to(dev)
        dx = torch.randint(0, 2 * pad + 1, (n,)).to(dev)
        rows = (dy[:, None] + torch.arange(h, device=dev)[None, :])[:, None, :, None]  # N1H1
        cols = (dx[:, None] + torch.arange(w, device=dev)[None, :])[:, None, None, :]  # N11W
        batch = torch.arange(n, device=dev)[:, None, None, None]
        chans = torch.arange(images.shape[1], device=dev)[None, :, None, None]
        out = padded[batch, chans, rows, cols]
    if hflip:
        flip = (torch.rand(n) < 0.5).to(dev)
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out


class TensorBatchLoader:
    """Batches of ``(normalized float images, int64 labels)`` of an ``ImageTensorDataset``.

    ``shuffle`` orders the images by ``torch.randperm`` of ``generator``: a new permutation on
    every pass, the one a ``DataLoader`` with that generator draws (``generator=None``: seeded
    from torch's global RNG, as a DataLoader without one seeds it). ``drop_last`` drops a short
    last batch.

    ``resident=True`` keeps the dataset on ``device`` and yields batches there (see the module
    doc; on ``device="cpu"`` it is the host path itself); ``pin_memory=True`` yields host batches
    in pinned memory, for an asynchronous copy to a GPU.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        resident: bool = False,
        pin_memory: bool = False,
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if resident and device is None:
            raise ValueError("resident=True needs the device to keep the dataset on")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.resident = bool(resident)
        self.pin_memory = bool(pin_memory) and not self.resident
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        ds = self.dataset
        n = len(ds)
        if self.resident:
            all_images, all_labels, mean, std = _on_device(ds, self.device)
        else:
            all_images, all_labels, mean, std = ds.images, ds.labels, ds.mean, ds.std
        order, sampler = self._draw_order(n)
        if order is not None:
            order = order.to(all_images.device)
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min(n, (b + 1) * self.batch_size)
            if order is None:
                images, labels = all_images[lo:hi], all_labels[lo:hi]
            else:
                idx = order[lo:hi]
                images, labels = all_images[idx], all_labels[idx]
            if sampler is not None and hi - lo < self.batch_size:
                # the sampler runs out (and draws its last permutation) before a short batch
                torch.randperm(n, generator=sampler)
                sampler = None
            if ds.augment:
                images = augment_batch(images, ds.pad, ds.hflip)
            x = images.float().div_(255.0).sub_(mean).div_(std)
            if self.pin_memory:
                x, labels = x.pin_memory(), labels.pin_memory()
            yield x, labels
        if sampler is not None:  # or when asked for the batch after the last full one
            torch.randperm(n, generator=sampler)

    def _draw_order(self, n: int) -> tuple[torch.Tensor | None, torch.Generator | None]:
        """This pass's order (``None``: unshuffled) and the generator its sampler draws from,
        drawn as a DataLoader draws them: its workers' base seed from the loader's generator
        (torch's global RNG without one), then the sampler's permutation from that generator
        (without one, from a generator seeded by another draw of the global RNG).

        A ``RandomSampler`` that runs out draws one more permutation, of which it yields
        nothing; :meth:`__iter__` draws it at the same point (a pass stopped early does not), so
        every pass, not only the first, has the DataLoader's order.
        """
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        if not self.shuffle:
            return None, None
        sampler = self.generator
        if sampler is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            sampler = torch.Generator()
            sampler.manual_seed(seed)
        return torch.randperm(n, generator=sampler), sampler
