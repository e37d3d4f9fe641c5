"""Whole batches from an in-memory uint8 dataset: indexing, augmentation and normalisation done
once per batch on tensors, with no Python work per image.

:class:`TensorBatchLoader` is what :func:`budgetnas.data.make_loader` returns for an
:class:`~budgetnas.data.ImageTensorDataset` without workers. It yields the same batches as a
``DataLoader`` over the dataset would: the same order on every pass (the permutations of the
loader's generator, drawn as ``RandomSampler`` draws them), the same images without
augmentation; with augmentation the same kind of random crop (zero padding of ``pad`` pixels of
the raw image) and horizontal flip, drawn per batch from torch's global RNG (a checkpoint that
saves and restores ``torch.get_rng_state()`` sees the same augmented batches).

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
    every pass, the one a ``DataLoader`` with that generator draws (``generator=None``: seeded
    from torch's global RNG, as a DataLoader without one seeds it). ``drop_last`` drops a short
    last batch.
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
        order, sampler = self._draw_order(n)
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min(n, (b + 1) * self.batch_size)
            if order is None:
                images, labels = ds.images[lo:hi], ds.labels[lo:hi]
            else:
                idx = order[lo:hi]
                images, labels = ds.images[idx], ds.labels[idx]
            if sampler is not None and hi - lo < self.batch_size:
                # the sampler runs out (and draws its last permutation) before a short batch
                torch.randperm(n, generator=sampler)
                sampler = None
            if ds.augment:
                images = augment_batch(images, ds.pad, ds.hflip)
            x = images.float().div_(255.0).sub_(ds.mean).div_(ds.std)
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
