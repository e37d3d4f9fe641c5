"""A chosen committee as one TorchScript module: :class:`Cascade` and :class:`Ensemble`.

Both return class probabilities. A cascade at batch 1 runs its members one after another and
stops at the first that is sure enough (early exit); in a batch each image is routed on its own:
a member runs only on the images still left, so the batch result equals the images' results one
by one. ``exits(x)`` says at which member every image left.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Cascade", "Ensemble"]


class Cascade(nn.Module):
    """Members cheap to expensive; ``thresholds[j]``: the largest softmax probability at which an
    image leaves at member ``j`` (every member but the last)."""

    def __init__(self, members: list[nn.Module], thresholds: list[float]):
        super().__init__()
        if len(thresholds) != len(members) - 1:
            raise ValueError("a cascade of k members has k - 1 thresholds")
        self.members = nn.ModuleList(members)
        # the last member takes every image left: its threshold is 0
        self.register_buffer("thresholds", torch.tensor([*map(float, thresholds), 0.0]))

    @torch.jit.export
    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        left = torch.arange(n, device=x.device)
        out = torch.zeros(0)
        exits = torch.full((n,), -1, dtype=torch.long, device=x.device)
        first = True
        j = 0
        for member in self.members:
            if left.numel() > 0:
                p = torch.softmax(member(x.index_select(0, left)).float(), dim=1)
                if first:
                    out = torch.zeros(n, p.shape[1], dtype=p.dtype, device=x.device)
                    first = False
                leave = p.max(dim=1).values >= self.thresholds[j]
                done = left[leave]
                out[done] = p[leave]
                exits[done] = j
                left = left[~leave]
            j += 1
        return out, exits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.route(x)[0]

    @torch.jit.export
    def exits(self, x: torch.Tensor) -> torch.Tensor:
        return self.route(x)[1]


class Ensemble(nn.Module):
    """The mean of the members' softmax outputs."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(0)
        k = 0
        for member in self.members:
            p = torch.softmax(member(x).float(), dim=1)
            total = p if k == 0 else total + p
            k += 1
        return total / k
