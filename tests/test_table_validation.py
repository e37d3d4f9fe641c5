"""Bad tables are refused with the entry named: cost tables (JSON, store), tabular benchmark
columns, and random table JSON (Hypothesis) never raises anything else."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetnas.cli.main import main
from budgetnas.costs.fingerprint import current_fingerprint
from budgetnas.costs.latency import Measurement
from budgetnas.costs.table import CostTable, distinct_descriptors, import_table, load_table
from budgetnas.files import check_distinct_outputs
from budgetnas.spaces import get_space
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.spaces.table import Table
from budgetnas.store import Store


def synthetic_table(space: MobileNetSpace, **fp_overrides) -> CostTable:
    """A valid table: every entry and the fixed part positive."""
    entries = {
        key: Measurement(m, m * 0.9, m * 1.1, m * 0.8, m * 1.5, 10, 3)
        for key, d in distinct_descriptors(space).items()
        for m in [0.02 + d.macs * 1e-6]
    }
    parts = {"stem": Measurement(0.1, 0.09, 0.11, 0.08, 0.2, 10)}
    fp = current_fingerprint(space) | fp_overrides
    return CostTable(fp, entries, t0=0.1, t0_parts=parts)


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return MobileNetSpace(preset="tiny")


@pytest.fixture(scope="module")
def good(space) -> dict:
    return synthetic_table(space, cpu="target").to_dict()


def _with(data: dict, path: tuple, value) -> dict:
    data = json.loads(json.dumps(data))
    node = data
    for k in path[:-1]:
        node = node[k]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DROP = object()


@pytest.mark.parametrize("value", [-1.0, 0.0, float("nan"), float("inf"), "fast", None, True])
def test_bad_entry_refused_with_the_entry_named(good, tmp_path, value):
    key = sorted(good["entries"])[3]
    path = tmp_path / "table.json"
    path.write_text(json.dumps(_with(good, ("entries", key, "median"), value)))
    with pytest.raises(ValueError, match=f"table.json: entry '{key}' median .* is not a positive"):
        import_table(Store(tmp_path / "s.sqlite"), path)
    assert not list(Store(tmp_path / "s.sqlite").items("lut_table"))  # nothing stored


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("t0",), -0.5, "t0 -0.5 is not a positive"),
        (("t0_parts", "stem", "min"), float("nan"), "t0 part 'stem' min nan"),
        (("entries", "KEY", "q1"), _DROP, "missing q1"),
        (("entries", "KEY", "speed"), 1.0, "unknown key speed"),
        (("entries", "KEY", "n"), 0, "n 0 is not a positive whole number"),
        (("entries", "KEY"), [1, 2], "must be an object"),
        (("entries",), {}, "non-empty"),
        (("extra",), 1, "unknown key 'extra'"),
        (("t0",), _DROP, "missing key 't0'"),
        (("fingerprint",), "cpu", "'fingerprint' must be a JSON dict"),
        (("stat",), "mean", "unknown statistic 'mean'"),
        (("fingerprint", "metric"), "speed_kmh", "fingerprint metric 'speed_kmh'"),
        (("fingerprint", "metric"), ["latency_ms"], "fingerprint field 'metric' is not a plain"),
        (("correction",), {"slope": -2.0, "intercept": 0.0}, "correction slope -2.0"),
        (("correction",), {"slope": 1.0, "intercept": "x"}, "correction intercept 'x'"),
    ],
)
def test_malformed_table_refused_clearly(good, tmp_path, path, value, message):
    key = sorted(good["entries"])[0]
    path = tuple(key if p == "KEY" else p for p in path)
    file = tmp_path / "t.json"
    file.write_text(json.dumps(_with(good, path, value)))
    with pytest.raises(ValueError, match=message) as err:
        CostTable.from_json(file)
    assert str(file) in str(err.value)


@pytest.mark.parametrize("doc", [[1, 2], "table", 3, None])
def test_wrong_shape_refused(tmp_path, doc):
    file = tmp_path / "t.json"
    file.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="a cost table is a JSON object"):
        CostTable.from_json(file)


def test_lut_import_prints_the_error(good, tmp_path, capsys):
    key = sorted(good["entries"])[0]
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(_with(good, ("entries", key, "median"), -1.0)))
    assert main(["lut", "import", "--store", str(tmp_path / "s.sqlite"), str(file)]) == 2
    err = capsys.readouterr().err
    assert f"entry '{key}' median -1.0 is not a positive finite number" in err
    assert "Traceback" not in err


def test_store_written_before_the_check_refused_on_load(space, tmp_path, capsys):
    """Every latency -1 used to make ``latency_ms<=5`` look met; a store holding such a table
    (written by an earlier release) is refused when loaded."""
    table = synthetic_table(space, cpu="target")
    store = Store(tmp_path / "s.sqlite")
    table.save(store)
    key = sorted(table.entries)[0]
    entry = dict(store.get("lut_entry", f"{table.id}/{key}"), median=-1.0)
    store.put("lut_entry", f"{table.id}/{key}", entry)
    with pytest.raises(ValueError, match=f"table {table.id}: entry '{key}' median -1.0"):
        load_table(store, space, table_id=table.id)
    argv = ["lut", "export", "--store", str(store.path), "--preset", "tiny"]
    assert main([*argv, "--table-id", table.id, "--out", str(tmp_path / "x.json")]) == 2
    assert f"entry '{key}' median -1.0 is not a positive finite number" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


# ---- tabular benchmarks ---------------------------------------------------------------------------
def _nb201_csv(tmp_path, cell=None, column="lat_ms"):
    space = get_space("nb201")
    archs = space.all_archs()[:20]
    path = tmp_path / "t.csv"
    lines = ["arch_str,valid_acc,test_acc,lat_ms,note"]
    for k, a in enumerate(archs):
        vals = {"valid_acc": f"{50 + k}", "test_acc": f"{49 + k}", "lat_ms": f"{1 + k / 10}"}
        if k == 7 and cell is not None:
            vals[column] = cell
        lines.append(f"{a},{vals['valid_acc']},{vals['test_acc']},{vals['lat_ms']},x")
    path.write_text("\n".join(lines) + "\n")
    return Table.from_csv(path, space), space.to_string(archs[7])


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("-1", "value -1.0 is not a positive cost"),
        ("0", "value 0.0 is not a positive cost"),
        ("inf", "value inf is not a finite number"),
        ("nan", "value nan is not a finite number"),
        ("", "the cell is blank"),
        ("fast", "the cell is 'fast', not a number"),
    ],
)
def test_bad_cost_cell_refused_with_column_and_row(tmp_path, cell, message):
    table, row = _nb201_csv(tmp_path, cell)
    with pytest.raises(ValueError, match=message) as err:
        table.cost("lat_ms")
    assert "'lat_ms'" in str(err.value) and row in str(err.value) and "t.csv" in str(err.value)


@pytest.mark.parametrize("cell", ["nan", "", "inf"])
def test_bad_objective_cell_refused(tmp_path, cell):
    table, row = _nb201_csv(tmp_path, cell, column="test_acc")
    with pytest.raises(ValueError, match="column 'test_acc', row") as err:
        table.query("test_acc")
    assert row in str(err.value)
    assert table.value("valid_acc", table.archs[0]) == 50.0  # the other columns still serve
    assert table.cost("lat_ms").evaluate(table.archs[7]) == pytest.approx(1.7)


def test_text_column_still_not_numeric(tmp_path):
    table, _ = _nb201_csv(tmp_path)
    with pytest.raises(ValueError, match=r"column 'note'.*'x', not a number"):
        table.column("note")
    with pytest.raises(KeyError, match="Did you mean 'lat_ms'"):
        table.column("lat_m")


def test_check_distinct_outputs(tmp_path):
    check_distinct_outputs(json=tmp_path / "a.json", plot=tmp_path / "a.png", store=None)
    with pytest.raises(ValueError, match="--json and --store both name"):
        check_distinct_outputs(json=tmp_path / "a.json", store=tmp_path / "x" / ".." / "a.json")


# ---- fuzz -----------------------------------------------------------------------------------------
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
_json = st.recursive(
    st.one_of(_numbers),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=8,
)
_fields = ("median", "q1", "q3", "min", "max", "n", "number", "other")


def _child(doc: dict, key: str) -> dict:
    """``doc[key]`` when it is still an object (an earlier change may have replaced it)."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


@st.composite
def _table_docs(draw, good):
    """A valid table with one to four random changes (or, one time in ten, any JSON)."""
    doc = json.loads(json.dumps(good))
    keys = sorted(doc["entries"])
    places = ["entry", "field", "top", "t0", "part", "fingerprint"]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(places))
        if where == "entry":
            _child(doc, "entries")[draw(st.sampled_from(keys))] = draw(_json)
        elif where == "field":
            entry = _child(doc, "entries").get(draw(st.sampled_from(keys)))
            if isinstance(entry, dict):
                f = draw(st.sampled_from(_fields))
                if draw(st.booleans()):
                    entry.pop(f, None)
                else:
                    entry[f] = draw(_numbers)
        elif where == "top":
            k = draw(st.sampled_from([*doc, "extra"]))
            if draw(st.booleans()):
                doc.pop(k, None)
            else:
                doc[k] = draw(_json)
        elif where == "fingerprint":
            key = draw(st.sampled_from(["metric", "space", "preset", "cpu", "threads"]))
            _child(doc, "fingerprint")[key] = draw(_json)
        elif where == "t0":
            doc["t0"] = draw(_numbers)
        else:
            _child(doc, "t0_parts")["stem"] = draw(_json)
    return draw(_json) if draw(st.integers(0, 9)) == 0 else doc


def _all_positive(table: CostTable) -> bool:
    stats = [v for m in [*table.entries.values(), *table.t0_parts.values()] for v in
             (m.median, m.q1, m.q3, m.min, m.max)]  # fmt: skip
    return all(math.isfinite(v) and v > 0 for v in [*stats, table.t0])


def test_fuzz_table_json(good, tmp_path):
    store = Store(tmp_path / "s.sqlite")

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_table_docs(good))
    def check(doc):
        try:
            table = CostTable.from_dict(doc, where="fuzz.json")
        except ValueError:
            return
        assert _all_positive(table)
        file = tmp_path / "t.json"
        file.write_text(json.dumps(doc))
        assert _all_positive(import_table(store, file))

    check()


def test_lut_validate_refuses_colliding_outputs(tmp_path, capsys):
    from budgetnas.costs.validate import ValidateConfig, run_validation

    store = tmp_path / "s.sqlite"
    with pytest.raises(ValueError, match="--json and --store both name"):
        run_validation(ValidateConfig(store=str(store), json_out=str(store)))
    argv = ["lut", "validate", "--store", str(store), "--json", str(tmp_path / "v.json")]
    assert main([*argv, "--plot", str(tmp_path / "v.json")]) == 2
    assert "--json and --plot both name" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "supernet", "ranking", "--supernet", "{d}/s.pt", "--json", "{d}/s.pt"],
        ["bench", "pruning", "--model", "{d}/m.pt", "--json", "{d}/m.pt"],
    ],
)
def test_benchmarks_refuse_outputs_that_name_their_inputs(tmp_path, capsys, argv):
    from budgetnas.cli.main import main

    for name in ("s.pt", "m.pt"):
        (tmp_path / name).write_text("mine")
    assert main([a.format(d=tmp_path) for a in argv]) == 2
    assert "give each output its own file" in capsys.readouterr().err
    assert (tmp_path / "s.pt").read_text() == (tmp_path / "m.pt").read_text() == "mine"
