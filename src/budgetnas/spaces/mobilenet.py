"""The elastic MobileNetV3 space of HardCoRe-NAS / BINAS: 5 stages x depth {2,3,4} x per-block
expansion {3,4,6} x kernel {3,5} x squeeze-excite {off, 0.25}; 255 one-hot decisions.

Decision groups, in this order (cost models and predictors rely on it):

* groups 0..19: the blocks, stage-major (stage 1 blocks 1..4, then stage 2, ...), 12 options each,
  option ``index = e_idx * 4 + k_idx * 2 + se_idx`` with ``e in (3, 4, 6)``, ``k in (3, 5)``,
  ``se in (off, 0.25)``; so option 0 is ``e3k3`` and option 11 is ``e6k5se``;
* groups 20..24: the depth of stages 1..5, options ``(2, 3, 4)``.

20 x 12 + 5 x 3 = 255 binaries. Blocks 3 and 4 of a stage exist only when the depth reaches them;
:meth:`MobileNetSpace.canonicalize` sets an inactive block to option 0 so that one network has one
decision vector and one string.

The canonical string lists the active blocks of each stage, stages separated by ``|``, blocks by
``-``: ``e6k5se-e3k3|e4k3-e4k3-e6k5|...`` (``se`` marks squeeze-excite). The depth of a stage is its
number of blocks.

The macro structure (channels, strides, resolution) comes from a :class:`MobileNetConfig` preset;
the decision space is the same for every preset. Analytic parameter counts and multiply-adds
(MACs; FLOPs = 2 x MACs) per block descriptor live here too, so cost models need no torch.

Example:
    >>> space = MobileNetSpace(preset="tiny")
    >>> arch = space.heaviest()
    >>> space.n_binaries, str(arch).split("|")[0]
    (255, 'e6k5se-e6k5se-e6k5se-e6k5se')
    >>> space.from_string(str(arch)) == arch
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.spaces import register_space
from budgetnas.spaces._base import Group, SearchSpace

EXPANSIONS = (3, 4, 6)
KERNELS = (3, 5)
SE_OPTIONS = (False, True)
SE_RATIO = 0.25
DEPTHS = (2, 3, 4)
N_STAGES = 5
MAX_DEPTH = 4
N_BLOCK_OPTIONS = len(EXPANSIONS) * len(KERNELS) * len(SE_OPTIONS)  # 12
ACTIVATIONS = ("relu", "hswish")
_TOKEN_RE = re.compile(r"^e(\d+)k(\d+)(se)?$")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor``, never going more than 10% below it."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class BlockConfig:
    """The choice made for one block: expansion ratio, depthwise kernel, squeeze-excite."""

    expansion: int
    kernel: int
    se: bool

    @property
    def index(self) -> int:
        return EXPANSIONS.index(self.expansion) * 4 + KERNELS.index(self.kernel) * 2 + int(self.se)

    @classmethod
    def from_index(cls, index: int) -> BlockConfig:
        if not 0 <= index < N_BLOCK_OPTIONS:
            raise ValueError(f"block option {index} out of range 0..{N_BLOCK_OPTIONS - 1}")
        return cls(EXPANSIONS[index // 4], KERNELS[(index // 2) % 2], bool(index % 2))

    def __str__(self) -> str:
        return f"e{self.expansion}k{self.kernel}{'se' if self.se else ''}"

    @classmethod
    def parse(cls, token: str) -> BlockConfig:
        m = _TOKEN_RE.match(token)
        if not m:
            raise ValueError(f"not a block token: {token!r} (expected e<3|4|6>k<3|5>[se])")
        e, k, se = int(m.group(1)), int(m.group(2)), m.group(3) is not None
        if e not in EXPANSIONS or k not in KERNELS:
            raise ValueError(
                f"block {token!r}: expansion must be one of {EXPANSIONS}, kernel {KERNELS}"
            )
        return cls(e, k, se)


BLOCK_OPTIONS = tuple(BlockConfig.from_index(i) for i in range(N_BLOCK_OPTIONS))


@dataclass(frozen=True)
class MobileNetConfig:
    """The macro structure around the searched blocks (channels before the width multiplier)."""

    name: str = "imagenet"
    image_size: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    stem_channels: int = 32
    stem_stride: int = 2
    first_channels: int = 16  # the fixed depthwise-separable block after the stem
    stage_channels: tuple[int, ...] = (24, 40, 80, 112, 192)
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2)
    stage_acts: tuple[str, ...] = ("relu", "relu", "hswish", "hswish", "hswish")
    head_channels: int = 960
    feature_channels: int = 1280
    width_mult: float = 1.0
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for attr in ("stage_channels", "stage_strides", "stage_acts"):
            value = tuple(getattr(self, attr))
            object.__setattr__(self, attr, value)
            if len(value) != N_STAGES:
                raise ValueError(f"{attr} needs {N_STAGES} entries, got {len(value)}")
        if any(a not in ACTIVATIONS for a in self.stage_acts):
            raise ValueError(f"stage_acts must be among {ACTIVATIONS}")
        if any(s not in (1, 2) for s in (*self.stage_strides, self.stem_stride)):
            raise ValueError("strides must be 1 or 2")

    # channels after the width multiplier
    def ch(self, c: int) -> int:
        return make_divisible(c * self.width_mult)

    @property
    def stem_out(self) -> int:
        return self.ch(self.stem_channels)

    @property
    def first_out(self) -> int:
        return self.ch(self.first_channels)

    @property
    def stage_out(self) -> tuple[int, ...]:
        return tuple(self.ch(c) for c in self.stage_channels)

    @property
    def head_out(self) -> int:
        return self.ch(self.head_channels)

    @property
    def feature_out(self) -> int:
        # as in MobileNetV3, the last layer is not narrowed below its nominal width
        return max(self.feature_channels, self.ch(self.feature_channels))

    def resolutions(self) -> tuple[int, ...]:
        """Input resolution of each stage's first block, then the resolution after stage 5."""
        r = conv_out(self.image_size, 3, self.stem_stride)
        out = []
        for s in self.stage_strides:
            out.append(r)
            r = conv_out(r, 3, s)  # same for k=5 with padding k//2
        out.append(r)
        return tuple(out)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MobileNetConfig:
        return cls(**data)


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Output size of a convolution with padding ``kernel // 2``.

    Example:
        >>> conv_out(28, 3, 2)
        14
    """
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


PRESETS: dict[str, MobileNetConfig] = {
    "imagenet": MobileNetConfig(),
    # 28x28 grayscale: stem stride 1, three stride-2 stages (28 -> 14 -> 7 -> 4), width 0.25.
    # Sized so that one epoch of the heaviest path fits minutes on one CPU core.
    "fmnist-small": MobileNetConfig(
        name="fmnist-small",
        image_size=28,
        in_channels=1,
        num_classes=10,
        stem_channels=32,
        stem_stride=1,
        first_channels=32,
        stage_strides=(2, 2, 2, 1, 1),
        head_channels=960,
        feature_channels=256,
        width_mult=0.25,
        dropout=0.1,
    ),
    # 32x32 RGB: the same shape (32 -> 16 -> 8 -> 4), width 0.5
    "cifar-small": MobileNetConfig(
        name="cifar-small",
        image_size=32,
        in_channels=3,
        num_classes=10,
        stem_channels=32,
        stem_stride=1,
        first_channels=16,
        stage_strides=(2, 2, 2, 1, 1),
        head_channels=960,
        feature_channels=512,
        width_mult=0.5,
        dropout=0.1,
    ),
    # tests: 16x16 RGB, a few channels, 4 classes
    "tiny": MobileNetConfig(
        name="tiny",
        image_size=16,
        in_channels=3,
        num_classes=4,
        stem_channels=8,
        stem_stride=1,
        first_channels=8,
        stage_channels=(8, 16, 16, 24, 24),
        stage_strides=(2, 2, 1, 1, 2),
        stage_acts=("relu", "relu", "hswish", "hswish", "hswish"),
        head_channels=32,
        feature_channels=32,
        width_mult=1.0,
        dropout=0.0,
    ),
}


#: the name of a preset derived from the data's shape: ``<side>px-<gray|rgb>-<classes>cls``
_DERIVED_RE = re.compile(r"^(\d+)px-(gray|rgb)-(\d+)cls$")
#: stride-2 layers (stem included) at most: 224 px inputs end at 7 x 7, as MobileNetV3
_MAX_STRIDE2 = 5
#: the order in which stages get stride 2 (MobileNetV3 keeps stage 4 at stride 1)
_STRIDE_ORDER = (0, 1, 2, 4, 3)


def preset_for(image_size: int, channels: int, num_classes: int) -> MobileNetConfig:
    """The macro structure for ``image_size`` px inputs of ``channels`` channels: the same 255
    decisions on every input size, with the downsampling that fits it.

    Rules (see docs/methods/spaces.md): the number of stride-2 layers is ``round(log2(side / 4))``
    clipped to 1..5, so the last feature map is about 4 x 4 on small images and 7 x 7 on 224 px
    (28 and 32 px: 3, 64 px: 4, 96 and 128 px: 5); the stem takes one of them from 64 px up
    (full-resolution convolutions are the costliest), and the stages take the rest in MobileNetV3's
    order (stages 1, 2, 3, 5, 4). Widths follow ``fmnist-small`` for one channel (x0.25) and
    ``cifar-small`` for three (x0.5). The shapes of those two presets give them back by name; any
    other shape gives a preset named ``<side>px-<gray|rgb>-<classes>cls``, which
    :func:`get_preset` rebuilds from its name alone.

    Example:
        >>> preset_for(28, 1, 10).name, preset_for(32, 3, 10).name
        ('fmnist-small', 'cifar-small')
        >>> cfg = preset_for(96, 3, 5)
        >>> cfg.name, cfg.stem_stride, cfg.stage_strides, cfg.resolutions()[-1]
        ('96px-rgb-5cls', 2, (2, 2, 2, 1, 2), 3)
    """
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {channels}")
    if image_size < 8:
        raise ValueError(f"images must be at least 8 px on a side, got {image_size}")
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    n = int(min(_MAX_STRIDE2, max(1, round(math.log2(image_size / 4)))))
    stem = 2 if image_size >= 64 else 1
    strides = [1] * N_STAGES
    for stage in _STRIDE_ORDER[: n - (stem == 2)]:
        strides[stage] = 2
    base = PRESETS["fmnist-small" if channels == 1 else "cifar-small"]
    name = f"{image_size}px-{'gray' if channels == 1 else 'rgb'}-{num_classes}cls"
    cfg = replace(
        base,
        name=name,
        image_size=image_size,
        num_classes=num_classes,
        stem_stride=stem,
        stage_strides=tuple(strides),
    )
    for named in ("fmnist-small", "cifar-small"):
        if replace(cfg, name=named) == PRESETS[named]:
            return PRESETS[named]
    return cfg


def get_preset(name: str | MobileNetConfig, **overrides) -> MobileNetConfig:
    """A preset by name (``imagenet``, ``fmnist-small``, ``cifar-small``, ``tiny``, or a name
    made by :func:`preset_for` such as ``64px-rgb-12cls``), with overrides."""
    if isinstance(name, MobileNetConfig):
        cfg = name
    elif name in PRESETS:
        cfg = PRESETS[name]
    elif m := _DERIVED_RE.match(name):
        cfg = preset_for(int(m.group(1)), 1 if m.group(2) == "gray" else 3, int(m.group(3)))
    else:
        raise ValueError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}, a derived name such as "
            "'64px-rgb-12cls', or 'auto' (from the data) where a dataset is given"
        )
    return replace(cfg, **overrides) if overrides else cfg


@dataclass(frozen=True)
class BlockDescriptor:
    """Everything that fixes the cost of one inverted-residual block (a lookup-table key)."""

    c_in: int
    c_out: int
    c_mid: int
    c_se: int  # 0 when squeeze-excite is off
    kernel: int
    stride: int
    resolution: int  # input height = width
    act: str

    @property
    def out_resolution(self) -> int:
        return conv_out(self.resolution, self.kernel, self.stride)

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out

    @property
    def params(self) -> int:
        """Weights of the extracted block: convs, SE (with biases) and BatchNorm affine terms."""
        p = self.c_in * self.c_mid + 2 * self.c_mid  # expand 1x1 + BN
        p += self.c_mid * self.kernel**2 + 2 * self.c_mid  # depthwise + BN
        if self.c_se:
            p += self.c_mid * self.c_se + self.c_se + self.c_se * self.c_mid + self.c_mid
        p += self.c_mid * self.c_out + 2 * self.c_out  # project 1x1 + BN
        return p

    @property
    def macs(self) -> int:
        """Multiply-adds of the convolutions and SE layers (BN, activations, pooling excluded)."""
        hw_in = self.resolution**2
        hw_out = self.out_resolution**2
        m = self.c_in * self.c_mid * hw_in
        m += self.c_mid * self.kernel**2 * hw_out
        if self.c_se:
            m += 2 * self.c_mid * self.c_se
        m += self.c_mid * self.c_out * hw_out
        return m

    @property
    def flops(self) -> int:
        """FLOPs counted as 2 x MACs (the convention of ``torch.utils.flop_counter``)."""
        return 2 * self.macs

    def key(self) -> str:
        se = f"se{self.c_se}" if self.c_se else "nose"
        return (
            f"ir_i{self.c_in}_o{self.c_out}_m{self.c_mid}_k{self.kernel}_s{self.stride}"
            f"_r{self.resolution}_{se}_{self.act}"
        )


@dataclass(frozen=True)
class FixedCost:
    """Parameters and MACs of the parts every architecture has (stem, first block, head)."""

    params: int
    macs: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


@register_space("mobilenet")
class MobileNetSpace(SearchSpace):
    """The elastic MobileNetV3 space on the macro structure of ``preset``."""

    name = "mobilenet"

    def __init__(self, preset: str | MobileNetConfig = "imagenet", **overrides):
        self.config = get_preset(preset, **overrides)

    # ---- decisions ----------------------------------------------------------------------
    def groups(self) -> Sequence[Group]:
        opts = tuple(str(b) for b in BLOCK_OPTIONS)
        blocks = [
            Group(f"s{s + 1}b{b + 1}", opts) for s in range(N_STAGES) for b in range(MAX_DEPTH)
        ]
        depths = [Group(f"s{s + 1}depth", tuple(str(d) for d in DEPTHS)) for s in range(N_STAGES)]
        return tuple(blocks + depths)

    @staticmethod
    def block_group(stage: int, block: int) -> int:
        """Group index of block ``block`` (0-based) of stage ``stage`` (0-based)."""
        return stage * MAX_DEPTH + block

    @staticmethod
    def depth_group(stage: int) -> int:
        return N_STAGES * MAX_DEPTH + stage

    def depths(self, arch: Architecture) -> tuple[int, ...]:
        return tuple(DEPTHS[arch.choices[self.depth_group(s)]] for s in range(N_STAGES))

    def canonicalize(self, arch: Architecture) -> Architecture:
        choices = list(arch.choices)
        for s in range(N_STAGES):
            depth = DEPTHS[choices[self.depth_group(s)]]
            for b in range(depth, MAX_DEPTH):
                choices[self.block_group(s, b)] = 0
        return Architecture(arch.space, tuple(choices))

    def defining_indices(self, arch: Architecture) -> np.ndarray:
        """The depth of every stage and the options of the blocks it reaches: blocks beyond a
        stage's depth do not change the network."""
        idx = self.active_indices(arch)
        keep = [self.depth_group(s) for s in range(N_STAGES)]
        for s, depth in enumerate(self.depths(arch)):
            keep.extend(self.block_group(s, b) for b in range(depth))
        return idx[sorted(keep)]

    def stage_blocks(self, arch: Architecture) -> list[list[BlockConfig]]:
        """The active block configs of each stage, stage by stage."""
        self.validate(arch)
        out = []
        for s, depth in enumerate(self.depths(arch)):
            out.append([BLOCK_OPTIONS[arch.choices[self.block_group(s, b)]] for b in range(depth)])
        return out

    def from_stage_blocks(self, stages: Sequence[Sequence[BlockConfig]]) -> Architecture:
        if len(stages) != N_STAGES:
            raise ValueError(f"expected {N_STAGES} stages, got {len(stages)}")
        choices = [0] * self.n_groups
        for s, blocks in enumerate(stages):
            if len(blocks) not in DEPTHS:
                raise ValueError(
                    f"stage {s + 1} has {len(blocks)} blocks; depth must be in {DEPTHS}"
                )
            for b, cfg in enumerate(blocks):
                choices[self.block_group(s, b)] = cfg.index
            choices[self.depth_group(s)] = DEPTHS.index(len(blocks))
        return self.arch(choices)

    def heaviest(self) -> Architecture:
        """All blocks e6k5se, depth 4 everywhere (the stage-A path)."""
        return self.from_stage_blocks([[BlockConfig(6, 5, True)] * MAX_DEPTH] * N_STAGES)

    def smallest(self) -> Architecture:
        """All blocks e3k3 without SE, depth 2 everywhere."""
        return self.from_stage_blocks([[BlockConfig(3, 3, False)] * 2] * N_STAGES)

    # ---- strings ------------------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        return "|".join("-".join(str(b) for b in blocks) for blocks in self.stage_blocks(arch))

    def from_string(self, text: str) -> Architecture:
        text = text.strip()
        parts = text.split("|")
        if len(parts) != N_STAGES:
            raise ValueError(
                f"not a mobilenet architecture string: {text!r} (expected {N_STAGES} stages "
                "separated by '|', each 2-4 blocks like e6k5se separated by '-')"
            )
        return self.from_stage_blocks([[BlockConfig.parse(t) for t in p.split("-")] for p in parts])

    # ---- analytic structure and counts ---------------------------------------------------
    def block_descriptor(self, stage: int, block: int, cfg: BlockConfig) -> BlockDescriptor:
        """The descriptor of block ``block`` of ``stage`` (0-based) in config ``cfg``."""
        c = self.config
        c_in = (
            (c.first_out if stage == 0 else c.stage_out[stage - 1])
            if block == 0
            else c.stage_out[stage]
        )
        c_mid = make_divisible(c_in * cfg.expansion)
        res = c.resolutions()[stage]
        if block > 0:
            res = c.resolutions()[stage + 1]
        return BlockDescriptor(
            c_in=c_in,
            c_out=c.stage_out[stage],
            c_mid=c_mid,
            c_se=make_divisible(c_mid * SE_RATIO) if cfg.se else 0,
            kernel=cfg.kernel,
            stride=c.stage_strides[stage] if block == 0 else 1,
            resolution=res,
            act=c.stage_acts[stage],
        )

    def descriptors(self, arch: Architecture) -> list[list[BlockDescriptor]]:
        return [
            [self.block_descriptor(s, b, cfg) for b, cfg in enumerate(blocks)]
            for s, blocks in enumerate(self.stage_blocks(arch))
        ]

    def block_table(self, attr: str = "macs") -> np.ndarray:
        """``t[stage, block, option]`` of a descriptor attribute (params, macs, flops)."""
        t = np.zeros((N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
        for s in range(N_STAGES):
            for b in range(MAX_DEPTH):
                for i, cfg in enumerate(BLOCK_OPTIONS):
                    t[s, b, i] = getattr(self.block_descriptor(s, b, cfg), attr)
        return t

    def fixed_cost(self) -> FixedCost:
        """Stem conv+BN, the fixed depthwise-separable block, the head and the classifier."""
        c = self.config
        r0 = conv_out(c.image_size, 3, c.stem_stride)
        r_last = c.resolutions()[-1]
        params = 9 * c.in_channels * c.stem_out + 2 * c.stem_out
        macs = 9 * c.in_channels * c.stem_out * r0 * r0
        # fixed block: depthwise 3x3 + BN + act, pointwise + BN (residual when shapes agree)
        params += 9 * c.stem_out + 2 * c.stem_out + c.stem_out * c.first_out + 2 * c.first_out
        macs += (9 * c.stem_out + c.stem_out * c.first_out) * r0 * r0
        params += c.stage_out[-1] * c.head_out + 2 * c.head_out
        macs += c.stage_out[-1] * c.head_out * r_last * r_last
        params += c.head_out * c.feature_out + c.feature_out
        macs += c.head_out * c.feature_out
        params += c.feature_out * c.num_classes + c.num_classes
        macs += c.feature_out * c.num_classes
        return FixedCost(params=params, macs=macs)

    def count_params(self, arch: Architecture) -> int:
        return self.fixed_cost().params + sum(d.params for st in self.descriptors(arch) for d in st)

    def count_macs(self, arch: Architecture) -> int:
        return self.fixed_cost().macs + sum(d.macs for st in self.descriptors(arch) for d in st)

    def count_flops(self, arch: Architecture) -> int:
        """FLOPs = 2 x MACs."""
        return 2 * self.count_macs(arch)

    def __repr__(self) -> str:
        return f"MobileNetSpace(preset={self.config.name!r}, binaries={self.n_binaries})"


__all__ = [
    "ACTIVATIONS",
    "BLOCK_OPTIONS",
    "DEPTHS",
    "EXPANSIONS",
    "KERNELS",
    "MAX_DEPTH",
    "N_BLOCK_OPTIONS",
    "N_STAGES",
    "PRESETS",
    "SE_OPTIONS",
    "SE_RATIO",
    "BlockConfig",
    "BlockDescriptor",
    "FixedCost",
    "MobileNetConfig",
    "MobileNetSpace",
    "conv_out",
    "get_preset",
    "make_divisible",
    "preset_for",
]
