import numpy as np
import pytest

from budgetnas.arch import Architecture
from budgetnas.spaces import get_space, list_spaces
from budgetnas.spaces.table import Table, pair_indices
from budgetnas.spaces.toy import ToySpace

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_nb201_structure_and_round_trip():
    space = get_space("nb201")
    assert (space.n_groups, space.n_binaries, space.size) == (6, 30, 15625)
    arch = space.from_string(CELL)
    assert arch.choices == (3, 3, 3, 1, 3, 3)
    assert str(arch) == CELL
    assert Architecture.from_json(arch.to_json()) == arch
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = space.sample(rng)
        assert space.from_string(str(a)) == a
        x = space.encode(a)
        assert x.sum() == 6 and space.decode(x) == a


def test_nb201_enumeration_is_complete_and_distinct():
    space = get_space("nb201")
    archs = space.all_archs()
    assert len(archs) == 15625 == len({str(a) for a in archs})


@pytest.mark.parametrize(
    ("cell", "network"),
    [
        (CELL, CELL),  # every edge is used
        # node 1 receives nothing (its edges out carry only zeros), node 2 leads nowhere
        (
            "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|",
            "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
        ),
        # node 2 leads nowhere (its edge to the output is none): the edges into it are unread
        (
            "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        ),
        # nothing reaches the output: every edge is dead
        (
            "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        ),
    ],
)
def test_nb201_effective_network_drops_dead_edges(cell, network):
    space = get_space("nb201")
    assert str(space.effective(space.from_string(cell))) == network


def test_nb201_cells_compute_9445_distinct_networks():
    space = get_space("nb201")
    nets = {space.effective(a) for a in space.all_archs()}
    assert len(nets) == 9445
    assert all(space.effective(n) == n for n in nets)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_nb201_bad_strings(bad):
    with pytest.raises(ValueError):
        get_space("nb201").from_string(bad)


def test_space_validation_and_mutation():
    space = ToySpace((3, 4, 2))
    with pytest.raises(ValueError, match="out of range"):
        space.arch([3, 0, 0])
    with pytest.raises(ValueError, match="expected 3 choices"):
        space.arch([0, 0])
    rng = np.random.default_rng(1)
    a = space.sample(rng)
    for _ in range(20):
        b = space.mutate(a, rng)
        assert sum(x != y for x, y in zip(a.choices, b.choices, strict=True)) == 1
    assert "toy" in list_spaces() and "nb201" in list_spaces()
    with pytest.raises(KeyError, match="Did you mean 'nb201'"):
        get_space("nb2011")


def test_pair_indices_cross_groups_only():
    space = ToySpace((2, 3))
    i, j = pair_indices(space)
    assert len(i) == 6
    assert np.all(space.group_of[i] != space.group_of[j])


def test_table_cost_form_is_exact_when_additive_and_bounded_otherwise():
    space = ToySpace((3, 3, 2))
    archs = list(space.enumerate())
    X = space.encode_many(archs)
    rng = np.random.default_rng(0)
    additive = 1.0 + X @ rng.uniform(size=space.n_binaries)
    bumpy = additive + rng.normal(size=len(archs))
    table = Table(space, archs, {"a_ms": additive, "b_ms": bumpy})
    exact = table.cost("a_ms")
    form = exact.quadratic_form()
    assert exact.exact_form
    np.testing.assert_allclose(form.values(X), additive, atol=1e-9)
    rough = table.cost("b_ms")
    form = rough.quadratic_form()
    resid = bumpy - form.values(X)
    assert rough.residual_min <= resid.min() and resid.max() <= rough.residual_max
    assert not rough.exact_form


def test_table_reads_real_nb201_when_present(nb201_csv):
    table = Table.from_csv(nb201_csv, get_space("nb201"))
    assert table.complete
    assert table.column("valid_acc").max() == pytest.approx(91.61, abs=0.01)
    # the FPGA and Eyeriss latencies of HW-NAS-Bench are exactly additive over edge operations
    assert table.cost("lat_fpga_ms").quadratic_form() is not None
    assert table.cost("lat_fpga_ms").exact_form
    assert not table.cost("lat_pixel3_ms").exact_form


def test_table_errors(tmp_path):
    space = get_space("nb201")
    with pytest.raises(FileNotFoundError, match="not found"):
        Table.from_csv(tmp_path / "missing.csv", space)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,acc\nx,1\n")
    with pytest.raises(ValueError, match="arch_str"):
        Table.from_csv(bad, space)
    t = Table(space, list(space.all_archs())[:2], {"valid_acc": np.array([1.0, 2.0])})
    with pytest.raises(KeyError, match="Did you mean 'valid_acc'"):
        t.column("valid_ac")


def test_real_nb201_columns_all_accepted(nb201_csv):
    """Every column of the shared table passes the checks; its cost columns as costs."""
    table = Table.from_csv(nb201_csv, get_space("nb201"))
    assert not table.bad_cells
    for name in ["valid_acc", "test_acc", "train_acc"]:
        assert np.isfinite(table.column(name)).all()
    for name in ["lat_fpga_ms", "lat_eyeriss_ms", "lat_pixel3_ms", "lat_raspi4_ms"]:
        assert table.cost_column(name).min() > 0
    with pytest.raises(ValueError, match=r"cost column 'index'.* value 0.0 is not a positive cost"):
        table.cost("index")  # a row number is no cost: its first row is 0


def test_table_built_in_memory_refuses_nan_and_negative_costs():
    space = ToySpace((2, 2))
    archs = list(space.all_archs())
    t = Table(space, archs, {"acc": np.array([1.0, np.nan, 3, 4]), "ms": np.array([1, 2, -3, 4])})
    with pytest.raises(ValueError, match=r"column 'acc', row .*: value nan is not a finite"):
        t.query("acc")
    with pytest.raises(ValueError, match=r"cost column 'ms', row .*: value -3.0 is not a positive"):
        t.cost("ms")
    assert t.value("ms", archs[0]) == 1.0  # read as a plain column, -3 is only refused as a cost
