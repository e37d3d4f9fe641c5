"""Data-parallel training under ``torchrun``: the process group, each rank's share of a batch,
and which rank writes.

``torchrun --nproc-per-node N -m budgetnas train-baseline ...`` (or ``train``, ``run``) starts
N processes with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set; :meth:`World.from_env` reads
them (one process without them). Every rank builds the same loader with the same seed, so every
rank draws the same global batch, shuffled and augmented alike; :meth:`World.shard` keeps rows
``rank, rank + N, ...`` of it. The network is wrapped in ``DistributedDataParallel``, which averages the
gradients of the N shards: with equal shards that is the gradient of the global batch's mean
loss, so N processes at ``--batch-size B`` train as one process at ``B`` would, except for
batch norm, whose statistics are each rank's own (``SyncBatchNorm`` runs on GPUs only). Rank 0
alone logs and writes checkpoints; the saved state (weights, optimizer, schedule, the loader's
generator) belongs to the global batch, so a run resumes with any number of processes.

The supernet (:mod:`budgetnas.training.supernet`) is not wrapped: its paths leave parameters
unused, so every rank trains the same paths and :meth:`World.average_gradients` averages the
gradients once per step instead.

Backends: gloo on the CPU, NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Sharded", "World"]


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a ``torchrun`` job."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun (a process group even with one process)

    @classmethod
    def from_env(cls) -> World:
        """The world ``torchrun`` describes in the environment (one process without it)."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size < 1:
            raise ValueError(f"WORLD_SIZE must be at least 1, got {size}")
        rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        return cls(rank, size, local, "TORCHELASTIC_RUN_ID" in os.environ)

    @property
    def distributed(self) -> bool:
        """Whether this process trains in a process group: more than one rank, or any number
        under ``torchrun`` (``--nproc-per-node 1`` on one GPU runs DDP on NCCL too)."""
        return self.size > 1 or self.launched

    @property
    def main(self) -> bool:
        """Whether this rank logs and writes files (rank 0)."""
        return self.rank == 0

    def device(self, requested: str) -> str:
        """The device of this rank: ``cuda:LOCAL_RANK`` when ``requested`` is CUDA (or auto with
        a GPU), else ``requested``."""
        import torch

        if not self.distributed:
            return requested
        if requested.startswith("cuda") or (requested == "auto" and torch.cuda.is_available()):
            return f"cuda:{self.local_rank}"
        return "cpu" if requested == "auto" else requested

    def start(self, device) -> None:
        """Join the process group: NCCL for a CUDA ``device``, gloo otherwise."""
        import torch
        import torch.distributed as dist

        if not self.distributed or dist.is_initialized():
            return
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group("nccl" if cuda else "gloo")

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.distributed and dist.is_initialized():
            dist.barrier()

    def stop(self) -> None:
        import torch.distributed as dist

        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def average_gradients(self, params) -> None:
        """Replace the gradient of each of ``params`` that has one by its mean over the ranks, in
        one all-reduce of the flattened gradients. Every rank must hold gradients for the same
        parameters: true when every rank trained the same paths this step (the supernet), the
        explicit alternative to ``DistributedDataParallel``'s search for unused parameters."""
        if not self.distributed:
            return
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        for dtype in sorted({g.dtype for g in grads}, key=str):
            group = [g for g in grads if g.dtype == dtype]
            flat = _flatten_dense_tensors([g.contiguous() for g in group])
            dist.all_reduce(flat)
            flat /= self.size
            for g, mean in zip(group, _unflatten_dense_tensors(flat, group), strict=True):
                g.copy_(mean)

    def sum(self, *values: float) -> list[float]:
        """The sums of ``values`` over the ranks (each rank's own values without a group)."""
        if not self.distributed:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        dist.all_reduce(t)
        return t.cpu().tolist()

    def broadcast_state(self, module) -> None:
        """Copy rank 0's parameters and buffers (batch-norm statistics included) into
        ``module`` on every rank."""
        if not self.distributed:
            return
        import torch.distributed as dist

        for t in [*module.parameters(), *module.buffers()]:
            if t.is_contiguous():
                dist.broadcast(t.data, 0)
            else:  # channels-last weights travel contiguous
                dense = t.data.contiguous()
                dist.broadcast(dense, 0)
                t.data.copy_(dense)

    def broadcast_object(self, obj=None):
        """Rank 0's ``obj`` (picklable), on every rank."""
        if not self.distributed:
            return obj
        import torch
        import torch.distributed as dist

        box = [obj if self.main else None]
        nccl = dist.get_backend() == "nccl"  # objects travel as tensors on the rank's GPU
        device = torch.device("cuda", torch.cuda.current_device()) if nccl else None
        dist.broadcast_object_list(box, 0, device=device)
        return box[0]

    def shard(self, *tensors):
        """This rank's rows (``rank::size``) of each of ``tensors``."""
        if not self.distributed:
            return tensors
        return tuple(t[self.rank :: self.size] for t in tensors)

    def wrap(self, model, device):
        """``model`` in ``DistributedDataParallel`` (itself with one process)."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device] if str(device).startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=ids)


class Sharded:
    """``loader``'s batches, each cut to this rank's share (:meth:`World.shard`); the loader's
    length and ``generator`` (its shuffling state, which checkpoints keep) pass through."""

    def __init__(self, loader: Iterable, world: World):
        self.loader, self.world = loader, world
        self.generator = getattr(loader, "generator", None)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for x, y in self.loader:
            yield self.world.shard(x, y)
