"""Analytic costs of the elastic MobileNetV3 space: parameters, MACs, FLOPs, peak activation memory.

Parameters, MACs and FLOPs add up over blocks, so each is the bilinear form of
docs/methods/costs.md, ``T0 + p @ alpha + alpha @ Q @ beta``: blocks 1 and 2 of a stage always
exist (linear terms), block 3 exists with probability ``P(depth >= 3) = beta3 + beta4`` and
block 4 with ``P(depth >= 4) = beta4`` (pair terms). With one-hot inputs the form is the exact
count of the extracted network; with per-group distributions it is the expected count. MACs count the
multiply-adds of convolutions, SE and linear layers; FLOPs are ``2 x MACs`` (the convention of
``torch.utils.flop_counter``). Units: millions (``params_m``, ``macs_m``, ``flops_m``).

Peak activation memory is a maximum, not a sum. :class:`PeakMemoryCost` evaluates it exactly
(kB = 1000 bytes, float32, at a batch size) and, for a given budget ``B``, turns ``peak <= B`` into
per-block linear constraints: every block config whose own peak exceeds ``B`` is excluded. In the
form, such a config gets a penalty weight larger than the whole budget (a pair term with the
stage depth for blocks 3 and 4, so an inactive block never counts), so ``form <= B`` holds exactly
when no excluded config is active, which is exactly when ``peak <= B``.

Example:
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> space = MobileNetSpace(preset="tiny")
    >>> cost = CountCost(space, "params_m")
    >>> arch = space.sample(0)
    >>> abs(cost.evaluate(arch) - space.count_params(arch) / 1e6) < 1e-12
    True
    >>> limit = PeakMemoryCost(space).evaluate(arch)  # kB
    >>> peak = PeakMemoryCost(space, limit=limit)
    >>> peak.quadratic_form().value(space.encode(arch)) <= limit
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.costs._base import CostModel
from budgetnas.forms import QuadraticForm
from budgetnas.spaces.mobilenet import (
    BLOCK_OPTIONS,
    DEPTHS,
    MAX_DEPTH,
    N_BLOCK_OPTIONS,
    N_STAGES,
    BlockDescriptor,
    MobileNetSpace,
    conv_out,
)

BYTES_PER_ELEMENT = 4  # float32
COUNT_METRICS = {"params_m": "params", "macs_m": "macs", "flops_m": "flops"}


def block_form(space: MobileNetSpace, table: np.ndarray, const: float = 0.0) -> QuadraticForm:
    """The bilinear form ``const + sum of table[s, b, c]`` over the active blocks of a space.

    ``table`` has shape ``(stages, 4, 12)``. Blocks 1-2 are linear in alpha; blocks 3 and 4 are
    pair terms ``alpha[s,b,c] * beta[s,d]`` for each depth ``d`` that reaches them.
    """
    table = np.asarray(table, dtype=float)
    if table.shape != (N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS):
        raise ValueError(
            f"block table must have shape {(N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS)}, got {table.shape}"
        )
    linear = np.zeros(space.n_binaries)
    pi, pj, pw = [], [], []
    offsets = space.offsets
    for s in range(N_STAGES):
        d_off = offsets[space.depth_group(s)]
        for b in range(MAX_DEPTH):
            off = offsets[space.block_group(s, b)]
            if b + 1 <= min(DEPTHS):
                linear[off : off + N_BLOCK_OPTIONS] += table[s, b]
                continue
            for d_idx, depth in enumerate(DEPTHS):
                if depth > b:  # block b (0-based) exists when depth >= b + 1
                    for c in range(N_BLOCK_OPTIONS):
                        pi.append(off + c)
                        pj.append(d_off + d_idx)
                        pw.append(table[s, b, c])
    return QuadraticForm(const, linear, np.array(pi, int), np.array(pj, int), np.array(pw))


def table_sum(space: MobileNetSpace, table: np.ndarray, arch: Architecture) -> float:
    """The plain sum of ``table[s, b, c]`` over the active blocks of ``arch`` (no form)."""
    total = 0.0
    for s, blocks in enumerate(space.stage_blocks(arch)):
        for b, cfg in enumerate(blocks):
            total += float(table[s, b, cfg.index])
    return total


class _SpaceCost(CostModel):
    """Shared: vectorized exact evaluation through the form (exact forms only)."""

    verification = "counted"

    space: MobileNetSpace

    def evaluate_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        return np.array([self.evaluate(a) for a in archs])


class CountCost(_SpaceCost):
    """Parameters, MACs or FLOPs in millions, counted analytically; its form is exact.

    ``metric`` is one of ``params_m``, ``macs_m``, ``flops_m``.
    """

    def __init__(self, space: MobileNetSpace, metric: str):
        if metric not in COUNT_METRICS:
            raise ValueError(
                f"unknown count metric {metric!r}; use one of {', '.join(COUNT_METRICS)}"
            )
        self.space = space
        self.metric = metric
        self.attr = COUNT_METRICS[metric]
        fixed = space.fixed_cost()
        self.table = space.block_table(self.attr) / 1e6
        self.t0 = getattr(fixed, self.attr) / 1e6
        self._form = block_form(space, self.table, self.t0)

    def evaluate(self, arch: Architecture) -> float:
        count = {
            "params": self.space.count_params,
            "macs": self.space.count_macs,
            "flops": self.space.count_flops,
        }[self.attr](arch)
        return count / 1e6

    def evaluate_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        return self._form.values(self.space.encode_many(archs))

    def quadratic_form(self) -> QuadraticForm:
        return self._form


# ---- peak activation memory ---------------------------------------------------------------------
def block_peak_elements(d: BlockDescriptor) -> int:
    """Largest number of live activation elements (batch 1) while one block runs.

    Model: at each operation the input and output tensors are live, plus the block input when a
    residual connection keeps it (BN and activations fused into their convolution, as deployed):
    expand ``X + E``; depthwise ``E + D (+ X)``; SE scaling ``2 D (+ X)``; project ``D + Y (+ X)``;
    residual add ``X + Y + out``.
    """
    r_in, r_out = d.resolution, d.out_resolution
    x = d.c_in * r_in * r_in
    e = d.c_mid * r_in * r_in
    dw = d.c_mid * r_out * r_out
    y = d.c_out * r_out * r_out
    keep = x if d.residual else 0
    steps = [x + e, e + dw + keep, dw + y + keep]
    if d.c_se:
        steps.append(2 * dw + keep)
    if d.residual:
        steps.append(x + 2 * y)
    return max(steps)


def fixed_peak_elements(space: MobileNetSpace) -> int:
    """Largest number of live activation elements in the stem, fixed block and head."""
    c = space.config
    r0 = conv_out(c.image_size, 3, c.stem_stride)
    img = c.in_channels * c.image_size**2
    s0 = c.stem_out * r0 * r0
    s1 = c.first_out * r0 * r0
    keep = s0 if c.stem_out == c.first_out else 0
    r_last = c.resolutions()[-1]
    last = c.stage_out[-1] * r_last * r_last
    head = c.head_out * r_last * r_last
    steps = [img + s0, 2 * s0, s0 + s1 + keep, last + head, head + c.head_out]
    if keep:
        steps.append(3 * s1)
    return max(steps)


class PeakMemoryCost(_SpaceCost):
    """Peak activation memory in kB (1000 bytes) of float32 activations at ``batch``.

    :meth:`evaluate` is the exact maximum over the fixed parts and the active blocks. The network
    peak is a max, so it has no exact bilinear form; given ``limit`` (the budget in kB), the form is
    ``T0 + sum of penalties`` where ``T0`` is the fixed parts' peak and every block config whose
    own peak exceeds ``limit`` carries a penalty larger than ``limit``. So ``form <= limit`` holds
    exactly when every active block (and the fixed part) fits, i.e. when ``evaluate <= limit``:
    these are the per-block linear constraints of docs/methods/costs.md. The residual bounds
    ``[0, limit - T0]`` hold on that feasible set, which is all the solvers rely on (MILP:
    ``form <= limit`` is necessary; Frank-Wolfe: ``form + (limit - T0) <= limit`` forbids every
    excluded config). Without ``limit`` there is no form. Off that set the form overstates the
    peak, so the cheapest peak is :meth:`minimum`, not the form's minimum.
    """

    metric = "peak_kb"

    def __init__(self, space: MobileNetSpace, limit: float | None = None, batch: int = 1):
        self.space = space
        self.batch = int(batch)
        self.limit = None if limit is None else float(limit)
        scale = BYTES_PER_ELEMENT * self.batch / 1000.0
        self.table = np.zeros((N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
        for s in range(N_STAGES):
            for b in range(MAX_DEPTH):
                for i, cfg in enumerate(BLOCK_OPTIONS):
                    d = space.block_descriptor(s, b, cfg)
                    self.table[s, b, i] = block_peak_elements(d) * scale
        self.t0 = fixed_peak_elements(space) * scale
        self._form = None
        if self.limit is not None:
            self.residual_min = 0.0
            self.residual_max = max(0.0, self.limit - self.t0)
            penalty = np.where(self.table > self.limit, self.limit + self.table, 0.0)
            self._form = block_form(space, penalty, self.t0)

    def excluded(self, limit: float | None = None) -> list[tuple[int, int, str]]:
        """The (stage, block, config) triples (1-based) whose own peak exceeds ``limit``."""
        limit = self.limit if limit is None else float(limit)
        if limit is None:
            raise ValueError("no limit given")
        s, b, c = np.nonzero(self.table > limit)
        return [
            (int(i) + 1, int(j) + 1, str(BLOCK_OPTIONS[k])) for i, j, k in zip(s, b, c, strict=True)
        ]

    def minimum(self) -> float:
        """The exact smallest peak over the space (kB): the fixed parts' peak or the blocks every
        network has (the first ``min(DEPTHS)`` of each stage, each at its lightest config),
        whichever is larger; deeper blocks are skipped at the smallest depth. The form's minimum
        is no bound of it: it counts the penalties of excluded configs."""
        always = self.table[:, : min(DEPTHS)].min(axis=2)
        return max(self.t0, float(always.max()))

    def evaluate(self, arch: Architecture) -> float:
        peaks = [self.t0]
        for s, blocks in enumerate(self.space.stage_blocks(arch)):
            peaks += [float(self.table[s, b, cfg.index]) for b, cfg in enumerate(blocks)]
        return max(peaks)

    def quadratic_form(self) -> QuadraticForm | None:
        return self._form


__all__ = [
    "COUNT_METRICS",
    "CountCost",
    "PeakMemoryCost",
    "block_form",
    "block_peak_elements",
    "fixed_peak_elements",
    "table_sum",
]
