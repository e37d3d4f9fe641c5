"""The suite every registered search space must pass (the contract of
:class:`~budgetnas.spaces._base.SearchSpace`).

``tests/test_spaces_suite.py`` runs these checks over :func:`budgetnas.spaces.list_spaces`, so a new
space is tested the moment it registers. Each check takes a space instance, or a registered name
built with :data:`SUITE_KWARGS` (small presets, so that the suite stays fast).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgetnas.arch import Architecture
from budgetnas.spaces import SearchSpace, get_space

__all__ = [
    "ALL_CHECKS",
    "ENUMERATE_LIMIT",
    "GARBAGE",
    "SUITE_KWARGS",
    "check_canonicalize",
    "check_effective",
    "check_encode_many",
    "check_groups",
    "check_mutate",
    "check_one_hot_encoding",
    "check_parse_errors",
    "check_sample",
    "check_special_architectures",
    "check_string_round_trip",
    "check_strings_identify_networks",
    "check_validate_rejects",
    "make",
    "suite_archs",
]

#: constructor keywords that keep a registered space cheap in the suite
SUITE_KWARGS: dict[str, dict] = {"mobilenet": {"preset": "tiny"}}
#: spaces with at most this many decision vectors are also enumerated
ENUMERATE_LIMIT = 20_000
#: strings that are no architecture of any space
GARBAGE = ("", "   ", "???", "a|b|c", "|+|+|", "1-2-x", "e9k9|e9k9", "|none~9|+|none~0|")


def make(space: SearchSpace | str) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space
    return get_space(space, **SUITE_KWARGS.get(space, {}))


def suite_archs(space: SearchSpace, n: int = 24, seed: int = 0) -> list[Architecture]:
    """``n`` sampled architectures, plus the heaviest and smallest where the space names them."""
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    for special in ("heaviest", "smallest"):
        if hasattr(space, special):
            archs.append(getattr(space, special)())
    return archs


def check_groups(space) -> None:
    """Named one-hot groups with distinct names and options; sizes, offsets and counts agree."""
    space = make(space)
    assert isinstance(space.name, str) and space.name
    groups = list(space.groups())
    assert groups, "a space needs at least one decision"
    names = [g.name for g in groups]
    assert len(set(names)) == len(names), f"group names repeat: {names}"
    for g in groups:
        assert g.size >= 1, f"group {g.name} has no option"
        assert len(set(g.options)) == g.size, f"options of {g.name} repeat: {g.options}"
    assert space.group_sizes == tuple(g.size for g in groups)
    assert space.n_groups == len(groups)
    assert space.n_binaries == sum(space.group_sizes)
    assert space.offsets[0] == 0
    for g in range(space.n_groups):
        sl = space.group_slice(g)
        assert sl.stop - sl.start == space.group_sizes[g]
        assert np.all(space.group_of[sl] == g)
    assert space.group_of.shape == (space.n_binaries,)
    assert space.size == math.prod(space.group_sizes)


def check_string_round_trip(space) -> None:
    """The canonical string parses back to the same architecture, and prints back unchanged."""
    space = make(space)
    for arch in suite_archs(space):
        text = space.to_string(arch)
        assert isinstance(text, str) and text
        assert text == text.strip(), f"canonical string with outer blanks: {text!r}"
        back = space.from_string(text)
        assert back == arch, (text, back, arch)
        assert space.to_string(back) == text
        assert space.from_string(f"  {text}\n") == arch  # blanks around a string are tolerated
        if _default_codec(space):
            # the value type's own codec goes through the registered space
            assert str(arch) == text
            assert Architecture.from_string(text, space=space.name) == arch
            assert Architecture.from_json(arch.to_json()) == arch


def check_strings_identify_networks(space) -> None:
    """Distinct architectures have distinct strings; the same string is the same architecture."""
    space = make(space)
    archs = (
        list(space.all_archs(ENUMERATE_LIMIT))
        if space.size <= ENUMERATE_LIMIT
        else suite_archs(space, n=200, seed=1)
    )
    seen: dict[str, Architecture] = {}
    for arch in archs:
        text = space.to_string(arch)
        assert seen.setdefault(text, arch) == arch, f"{text!r} names two architectures"
    if space.size <= ENUMERATE_LIMIT:
        assert len(list(space.enumerate(ENUMERATE_LIMIT))) == space.size
        assert len(seen) == len(archs)


def check_one_hot_encoding(space) -> None:
    """``encode`` is a 0/1 float vector with exactly one 1 per group; ``decode`` inverts it."""
    space = make(space)
    for arch in suite_archs(space):
        x = space.encode(arch)
        assert x.dtype == np.float64 and x.shape == (space.n_binaries,)
        assert set(np.unique(x)) <= {0.0, 1.0}
        for g in range(space.n_groups):
            assert x[space.group_slice(g)].sum() == 1.0, f"group {g} is not one-hot"
        assert np.array_equal(np.flatnonzero(x), np.sort(space.active_indices(arch)))
        assert space.decode(x) == arch
        # a relaxed point decodes to its most probable option in each group
        noisy = 0.6 * x + 0.4 / np.repeat(space.group_sizes, space.group_sizes)
        assert space.decode(noisy) == arch
        defining = space.defining_indices(arch)
        assert set(defining.tolist()) <= set(space.active_indices(arch).tolist())
    with pytest.raises(ValueError):
        space.decode(np.zeros(space.n_binaries + 1))


def check_encode_many(space) -> None:
    """``encode_many`` stacks ``encode`` row by row (and accepts an empty list)."""
    space = make(space)
    archs = suite_archs(space)
    X = space.encode_many(archs)
    assert X.shape == (len(archs), space.n_binaries)
    assert np.array_equal(X, np.stack([space.encode(a) for a in archs]))
    assert space.encode_many([]).shape == (0, space.n_binaries)


def check_sample(space) -> None:
    """Samples are valid, canonical, reproducible from a seed, and not all the same."""
    space = make(space)
    for seed in range(10):
        arch = space.sample(seed)
        space.validate(arch)
        assert arch.space == space.name
        assert space.canonicalize(arch) == arch
        assert space.sample(seed) == arch
    if space.size > 1:
        assert len({space.sample(s) for s in range(30)}) > 1


def check_canonicalize(space) -> None:
    """Canonicalization is idempotent, keeps the string, and keeps the defining binaries."""
    space = make(space)
    rng = np.random.default_rng(2)
    for _ in range(20):
        raw = Architecture(space.name, tuple(int(rng.integers(s)) for s in space.group_sizes))
        canon = space.canonicalize(raw)
        assert space.canonicalize(canon) == canon
        assert space.arch(raw.choices) == canon
        assert space.to_string(raw) == space.to_string(canon)
        assert np.array_equal(space.defining_indices(raw), space.defining_indices(canon))


def check_effective(space) -> None:
    """The network an architecture computes is an architecture of the space, its own network,
    and the same for every encoding of one canonical architecture."""
    space = make(space)
    rng = np.random.default_rng(3)
    for _ in range(20):
        raw = Architecture(space.name, tuple(int(rng.integers(s)) for s in space.group_sizes))
        net = space.effective(raw)
        space.validate(net)
        assert space.effective(net) == net
        assert space.effective(space.canonicalize(raw)) == net


def check_special_architectures(space) -> None:
    """Where the space names a heaviest and a smallest architecture, both are valid and canonical."""
    space = make(space)
    named = [s for s in ("heaviest", "smallest") if hasattr(space, s)]
    if not named:
        pytest.skip(f"space {space.name!r} names no heaviest/smallest architecture")
    archs = [getattr(space, s)() for s in named]
    for arch in archs:
        space.validate(arch)
        assert space.canonicalize(arch) == arch
        assert space.from_string(space.to_string(arch)) == arch
    if len(archs) == 2 and space.size > 1:
        assert archs[0] != archs[1]


def check_validate_rejects(space) -> None:
    """Architectures of another space, of the wrong length or out of range are refused."""
    space = make(space)
    arch = space.sample(0)
    with pytest.raises(ValueError, match="space"):
        space.validate(Architecture(space.name + "-other", arch.choices))
    with pytest.raises(ValueError, match="choices"):
        space.validate(Architecture(space.name, (*arch.choices, 0)))
    bad = list(arch.choices)
    bad[0] = space.group_sizes[0]
    with pytest.raises(ValueError, match="out of range"):
        space.arch(bad)


def check_parse_errors(space) -> None:
    """Malformed strings raise ``ValueError`` with a message of the space's own making."""
    space = make(space)
    for text in GARBAGE:
        with pytest.raises(ValueError) as info:
            space.from_string(text)
        message = str(info.value)
        assert message, f"empty message for {text!r}"
        assert "invalid literal" not in message, f"unclear message for {text!r}: {message}"
    text = space.to_string(space.sample(3))
    for broken in (text[: len(text) // 2], text + text[-1] * 3, text.replace(text[0], "#", 1)):
        try:
            arch = space.from_string(broken)
        except ValueError as err:
            assert str(err)
        else:  # a cut or a change may still be a valid string: then it must round-trip
            assert space.from_string(space.to_string(arch)) == arch


def check_mutate(space) -> None:
    """A mutation is a valid, canonical architecture, and mutations do change architectures."""
    space = make(space)
    if all(s == 1 for s in space.group_sizes):
        pytest.skip("nothing to mutate")
    rng = np.random.default_rng(4)
    arch = space.sample(rng)
    changed = 0
    for _ in range(20):
        child = space.mutate(arch, rng)
        space.validate(child)
        assert space.canonicalize(child) == child
        changed += child != arch
    assert changed > 0


def _default_codec(space: SearchSpace) -> bool:
    """Whether the registered space of this name (default arguments) has the same decisions, so
    that ``str(arch)`` and ``Architecture.from_string`` speak for ``space``."""
    from budgetnas.spaces import list_spaces

    if space.name not in list_spaces():
        return False
    default = get_space(space.name)
    return type(default) is type(space) and default.group_sizes == space.group_sizes


ALL_CHECKS = [
    check_groups,
    check_string_round_trip,
    check_strings_identify_networks,
    check_one_hot_encoding,
    check_encode_many,
    check_sample,
    check_canonicalize,
    check_effective,
    check_special_architectures,
    check_validate_rejects,
    check_parse_errors,
    check_mutate,
]
