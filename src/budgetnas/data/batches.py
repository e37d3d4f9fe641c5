"""Whole batches from an in-memory uint8 dataset: indexing, augmentation and normalisation done
once per batch on tensors, with no Python work per image.

:class:`TensorBatchLoader` is what :func:`budgetnas.data.make_loader` returns for an
:class:`~budgetnas.data.ImageTensorDataset` without workers. It yields the same batches as a
``DataLoader`` over the dataset would: the same order (the first ``torch.randperm`` of the
loader's generator, as ``RandomSampler`` draws it), the same images without augmentation; with
augmentation the same kind of random crop (zero padding of ``pad`` pixels of the raw image) and
horizontal flip, drawn per batch from torch's global RNG (a checkpoint that saves and restores
``torch.get_rng_state()`` sees the same augmented batches).

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

import torch

__all__ = ["TensorBatchLoader", "augment_batch"]


def augment_batch(images: torch.Tensor, pad: int, hflip: bool) -> torch.Tensor:
    """A random crop (after zero padding by ``pad`` pixels) and, when ``hflip``, a horizontal
    flip with probability 1/2, drawn independently for every image of the uint8 batch
    ``images`` (N x C x H x W) from torch's global RNG.

    Example:
        >>> x = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4)
        >>> augment_batch(x, pad=0, hflip=False).equal(x)
        True
        >>> y = augment_batch(x.expand(64, 1, 4, 4), pad=1, hflip=True)
        >>> tuple(y.shape), int(y.max()) <= 15
        ((64, 1, 4, 4), True)
    """
    n, _, h, w = images.shape
    out = images
    if pad > 0:
        padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,))
        dx = torch.randint(0, 2 * pad + 1, (n,))
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # N x 1 x H x 1
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # N x 1 x 1 x W
        batch = torch.arange(n)[:, None, None, None]
        chans = torch.arange(images.shape[1])[None, :, None, None]
        out = padded[batch, chans, rows, cols]
    if hflip:
        flip = torch.rand(n) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out


class TensorBatchLoader:
    """Batches of ``(normalized float images, int64 labels)`` of an ``ImageTensorDataset``.

    ``shuffle`` orders the images by ``torch.randperm`` of ``generator``: a new permutation on
    every pass, the one a ``DataLoader`` with that generator draws (``generator=None``: from
    torch's global RNG). ``drop_last`` drops a short last batch.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
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
        order = None
        if self.shuffle:
            # a DataLoader draws its workers' base seed from the generator first, then the
            # sampler's permutation: the same draws give the same order
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
            order = torch.randperm(n, generator=self.generator)
        sampler_left = order is not None  # the sampler's last draw is still to come
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min(n, (b + 1) * self.batch_size)
            if order is None:
                images, labels = ds.images[lo:hi], ds.labels[lo:hi]
            else:
                idx = order[lo:hi]
                images, labels = ds.images[idx], ds.labels[idx]
            if sampler_left and hi - lo < self.batch_size:  # it runs out before a short batch
                self._sampler_exhausted()
                sampler_left = False
            if ds.augment:
                images = augment_batch(images, ds.pad, ds.hflip)
            x = images.float().div_(255.0).sub_(ds.mean).div_(ds.std)
            yield x, labels
        if sampler_left:  # or when asked for the batch after the last full one
            self._sampler_exhausted()

    def _sampler_exhausted(self) -> None:
        """The draw of a ``RandomSampler`` that runs out: after its permutation it draws another
        one, of which it yields nothing. A pass that runs to its end draws it, one stopped early
        does not; so the next pass draws the DataLoader's next order either way."""
        torch.randperm(len(self.dataset), generator=self.generator)
