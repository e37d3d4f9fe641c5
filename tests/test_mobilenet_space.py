"""The elastic MobileNetV3 space: decision layout, canonical strings, analytic counts."""

from __future__ import annotations

import numpy as np
import pytest

from budgetnas.arch import Architecture
from budgetnas.spaces import get_space
from budgetnas.spaces.mobilenet import (
    BLOCK_OPTIONS,
    PRESETS,
    BlockConfig,
    MobileNetSpace,
    get_preset,
)


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return get_space("mobilenet", preset="tiny")


def test_decision_layout(space):
    groups = space.groups()
    assert space.n_binaries == 255 and len(groups) == 25
    assert [g.size for g in groups] == [12] * 20 + [3] * 5
    assert groups[0].name == "s1b1" and groups[19].name == "s5b4" and groups[20].name == "s1depth"
    for i, cfg in enumerate(BLOCK_OPTIONS):
        e, k, se = cfg.expansion, cfg.kernel, cfg.se
        assert i == (3, 4, 6).index(e) * 4 + (3, 5).index(k) * 2 + int(se)
        assert BlockConfig.from_index(i) == cfg and cfg.index == i
    assert len(set(BLOCK_OPTIONS)) == 12
    assert space.offsets[20] == 240


def test_string_round_trip_and_canonical(space):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        arch = space.sample(rng)
        text = str(arch)
        assert space.from_string(text) == arch
        assert Architecture.from_string(text, "mobilenet") == arch  # default preset, same codec
        assert [len(p.split("-")) for p in text.split("|")] == list(space.depths(arch))
        seen.add(text)
        # changing a block beyond the stage's depth is the same network: same arch, same string
        for s, d in enumerate(space.depths(arch)):
            if d < 4:
                choices = list(arch.choices)
                choices[space.block_group(s, 3)] = int(rng.integers(1, 12))
                assert space.arch(choices) == arch
    assert len(seen) == 300
    assert str(space.heaviest()) == "|".join(["-".join(["e6k5se"] * 4)] * 5)
    assert str(space.smallest()) == "|".join(["e3k3-e3k3"] * 5)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "e6k5se|e3k3",
        "e6k5se|e3k3|e3k3|e3k3|e3k3",
        "e6k7-e3k3|" * 4 + "e3k3-e3k3",
        "e5k3-e3k3|" * 4 + "e3k3-e3k3",
        "-".join(["e3k3"] * 5) + "|e3k3-e3k3" * 4,
    ],
)
def test_malformed_strings_are_value_errors(space, bad):
    with pytest.raises(ValueError):
        space.from_string(bad)


def test_stage_blocks_round_trip(space):
    arch = space.sample(3)
    stages = space.stage_blocks(arch)
    assert len(stages) == 5 and all(len(b) in (2, 3, 4) for b in stages)
    assert space.from_stage_blocks(stages) == arch


def test_counts_follow_the_bilinear_form(space):
    """count = fixed + sum over blocks 1,2 + P(depth>=b) terms for blocks 3,4 (docs/methods/costs.md, exact counts)."""
    rng = np.random.default_rng(1)
    for attr, count in (("params", space.count_params), ("macs", space.count_macs)):
        table = space.block_table(attr)
        fixed = getattr(space.fixed_cost(), attr)
        for _ in range(20):
            arch = space.sample(rng)
            x = space.encode(arch)
            alpha = x[:240].reshape(5, 4, 12)
            beta = x[240:].reshape(5, 3)
            p_depth = np.stack([np.ones(5), np.ones(5), beta[:, 1] + beta[:, 2], beta[:, 2]], 1)
            total = fixed + np.sum(p_depth[:, :, None] * alpha * table)
            assert total == count(arch)
    assert space.count_flops(space.heaviest()) == 2 * space.count_macs(space.heaviest())
    # heavier choices cost more
    assert space.count_macs(space.heaviest()) > space.count_macs(space.smallest())


def test_presets_keep_the_decision_space():
    sizes = {}
    for name in PRESETS:
        sp = MobileNetSpace(preset=name)
        assert sp.n_binaries == 255
        sizes[name] = sp.config.resolutions()
    assert sizes["imagenet"] == (112, 56, 28, 14, 14, 7)
    assert sizes["fmnist-small"][0] == 28 and get_preset("fmnist-small").stem_stride == 1
    assert get_preset("cifar-small").image_size == 32
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("nope")
    # a descriptor of the ImageNet space matches MobileNetV3's familiar block shapes
    d = MobileNetSpace("imagenet").block_descriptor(2, 0, BlockConfig(6, 5, True))
    assert (d.c_in, d.c_out, d.c_mid, d.c_se, d.stride, d.resolution) == (40, 80, 240, 64, 2, 28)
    assert not d.residual and MobileNetSpace("imagenet").block_descriptor(2, 1, d_cfg()).residual


def d_cfg() -> BlockConfig:
    return BlockConfig(3, 3, False)


def test_defining_indices_identify_the_network(space):
    rng = np.random.default_rng(5)
    archs = [space.sample(rng) for _ in range(200)]
    for a in archs:
        # changing a block beyond its stage's depth changes the encoding, not the network
        choices = list(a.choices)
        for s, depth in enumerate(space.depths(a)):
            for b in range(depth, 4):
                choices[space.block_group(s, b)] = int(rng.integers(12))
        b = space.arch(choices)
        assert np.array_equal(space.defining_indices(a), space.defining_indices(b))
        assert space.canonicalize(a) == space.canonicalize(b)
        n_active = sum(space.depths(a)) + 5  # active blocks and the 5 depth decisions
        assert len(space.defining_indices(a)) == n_active
    # another option for an active block: another network, other indices
    for a in archs[:50]:
        choices = list(a.choices)
        g = space.block_group(0, 0)  # the first block of a stage is always active
        choices[g] = (choices[g] + 1) % 12
        b = space.arch(choices)
        assert space.canonicalize(a) != space.canonicalize(b)
        assert set(space.defining_indices(a)) != set(space.defining_indices(b))


# ---- the preset follows the data ------------------------------------------------------------


@pytest.mark.parametrize("side", [8, 16, 28, 32, 40, 64, 96, 128, 224])
@pytest.mark.parametrize("channels", [1, 3])
def test_preset_for_every_input_size_builds_the_same_decisions(side, channels):
    from budgetnas.spaces.mobilenet import get_preset, preset_for

    cfg = preset_for(side, channels, 7)
    assert (cfg.image_size, cfg.in_channels, cfg.num_classes) == (side, channels, 7)
    last = cfg.resolutions()[-1]
    assert 3 <= last <= 8 if side >= 28 else last == 4
    # the name alone rebuilds it (tables, checkpoints and --space-preset carry only the name)
    assert get_preset(cfg.name) == cfg
    space = MobileNetSpace(cfg)
    assert space.n_binaries == 255
    assert space.count_params(space.heaviest()) > space.count_params(space.smallest()) > 0


def test_preset_for_downsamples_like_mobilenet():
    from budgetnas.spaces.mobilenet import PRESETS, preset_for

    assert preset_for(28, 1, 10) is PRESETS["fmnist-small"]
    assert preset_for(32, 3, 10) is PRESETS["cifar-small"]
    big = preset_for(224, 3, 1000)
    # the ImageNet preset's downsampling: stem 2, stages 2-2-2-1-2, 7 x 7 at the end
    assert (big.stem_stride, big.stage_strides) == (2, (2, 2, 2, 1, 2))
    assert big.resolutions()[-1] == PRESETS["imagenet"].resolutions()[-1] == 7
    assert preset_for(64, 3, 10).stem_stride == 2 and preset_for(40, 3, 10).stem_stride == 1
    assert preset_for(28, 1, 12).name == "28px-gray-12cls"  # another class count: a derived name


@pytest.mark.parametrize(
    "args,match",
    [((32, 2, 10), "1 or 3 channels"), ((4, 3, 10), "at least 8"), ((32, 3, 1), "2 classes")],
)
def test_preset_for_refuses_what_it_cannot_shape(args, match):
    from budgetnas.spaces.mobilenet import preset_for

    with pytest.raises(ValueError, match=match):
        preset_for(*args)


@pytest.mark.parametrize("side,channels", [(40, 3), (64, 1), (96, 3)])
def test_a_derived_preset_builds_a_supernet_with_its_counted_shape(side, channels):
    import torch

    from budgetnas.spaces.mobilenet import preset_for
    from budgetnas.supernet import MobileNetSupernet

    space = MobileNetSpace(preset_for(side, channels, 5))
    net = MobileNetSupernet(space).eval()
    net.set_active(space.smallest())
    with torch.no_grad():
        out = net(torch.zeros(2, channels, side, side))
    assert tuple(out.shape) == (2, 5)
