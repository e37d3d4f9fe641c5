"""budgetnas.config: dataclass fields -> flags, TOML in and out, layered resolution."""

import argparse
from dataclasses import dataclass, field

import pytest

from budgetnas.config import (
    add_arguments,
    flat_fields,
    from_dict,
    load_toml,
    load_toml_text,
    option,
    overrides_from_args,
    resolve,
    to_toml,
    update,
)


@dataclass
class Inner:
    lr: float = option(0.1, "learning rate")
    images: int | None = option(500, "images (none: all)")
    names: list[str] = option([], "names", sep=",")


@dataclass
class Outer:
    budgets: list[str] = option([], "a budget")
    mode: str = option("a", "the mode", choices=("a", "b"))
    fast: bool = option(False, "go fast")
    inner: Inner = field(default_factory=Inner)


def _parse(argv, **kw):
    p = argparse.ArgumentParser()
    add_arguments(p, Outer, **kw)
    return overrides_from_args(p.parse_args(argv), Outer)


def test_flags_give_only_what_was_typed_and_convert_types():
    assert _parse([]) == {}
    given = _parse(["--lr", "0.5", "--budget", "x<=1", "--budget", "y<=2", "--fast"])
    assert given == {"lr": 0.5, "budgets": ["x<=1", "y<=2"], "fast": True}
    cfg = resolve(Outer, given)
    assert cfg.inner.lr == 0.5 and cfg.budgets == ["x<=1", "y<=2"] and cfg.fast
    assert resolve(Outer, _parse(["--images", "none"])).inner.images is None
    assert resolve(Outer, _parse(["--names", "p,q", "--names", "r"])).inner.names == ["p", "q", "r"]
    assert _parse(["--learning", "2"], rename={"lr": "learning"}) == {"lr": 2.0}


def test_layers_apply_in_order_and_nested_tables_or_flat_names_both_work():
    cfg = resolve(Outer, {"lr": 0.2, "mode": "b"}, {"inner": {"lr": 0.3}}, None, {})
    assert cfg.inner.lr == 0.3 and cfg.mode == "b"
    assert update(cfg, {"images": "7"}).inner.images == 7  # strings from TOML or flags convert
    assert Outer().inner.names is not Outer().inner.names  # list defaults are not shared


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nope": 1}, "unknown setting 'nope'"),
        ({"mode": "c"}, "not one of a, b"),
        ({"lr": "fast"}, "not a valid float"),
        ({"images": 1.5}, "not a valid int"),
        ({"fast": "maybe"}, "not a valid bool"),
        ({"inner": 3}, "is a table of settings"),
        ({"lr": None}, "cannot be none"),
    ],
)
def test_bad_settings_are_clear_errors(values, message):
    with pytest.raises(ValueError, match=message):
        resolve(Outer, values)


def test_toml_round_trip_keeps_none_where_the_default_is_not_none(tmp_path):
    cfg = resolve(Outer, {"images": None, "budgets": ["a<=1"], "names": ["x"]})
    text = to_toml(cfg)
    assert 'images = "none"' in text and "[inner]" in text
    assert from_dict(Outer, load_toml_text(text)) == cfg
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert from_dict(Outer, load_toml(path)) == cfg


def test_toml_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [unclosed")
    with pytest.raises(ValueError, match=r"bad\.toml is not a valid TOML file"):
        load_toml(bad)


def test_leaf_names_must_be_unique_across_the_tree():
    @dataclass
    class Clash:
        lr: float = option(1.0, "again")
        inner: Inner = field(default_factory=Inner)

    with pytest.raises(ValueError, match="'lr' appears twice"):
        flat_fields(Clash)
