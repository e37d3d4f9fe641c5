"""Cost tables without measuring: form vs table sum, JSON and SQLite round trips, fingerprints,
corrections, and MILP under params and latency budgets (synthetic tables keep these fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from budgetnas.costs import constraint, resolve_cost
from budgetnas.costs.counting import table_sum
from budgetnas.costs.fingerprint import FingerprintMismatch, check_fingerprint, current_fingerprint
from budgetnas.costs.latency import Measurement
from budgetnas.costs.table import (
    CORRECTION_KIND,
    CostTable,
    distinct_descriptors,
    fit_correction,
    import_table,
    load_table,
)
from budgetnas.forms import QuadraticForm
from budgetnas.search import Problem, create_solver
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.store import Store


def synthetic_table(space: MobileNetSpace, seed: int = 0, **fp_overrides) -> CostTable:
    """Entries proportional to MACs with noise, as a measured table would roughly be."""
    rng = np.random.default_rng(seed)
    entries = {}
    for key, d in distinct_descriptors(space).items():
        med = 0.02 + d.macs * 1e-6 * rng.uniform(0.8, 1.2)
        entries[key] = Measurement(med, med * 0.95, med * 1.1, med * 0.9, med * 1.5, 10, 3)
    fp = current_fingerprint(space) | fp_overrides
    parts = {
        "stem": Measurement(0.1, 0.09, 0.11, 0.08, 0.2, 10),
        "head": Measurement(0.05, 0.04, 0.06, 0.03, 0.1, 10),
    }
    return CostTable(fp, entries, t0=0.15, t0_parts=parts)


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return MobileNetSpace(preset="tiny")


def test_form_one_hot_equals_plain_table_sum(space):
    table = synthetic_table(space)
    cost = table.cost_model(space)
    arr = table.block_array(space)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(30)]
    for arch in archs:
        plain = table.t0 + sum(
            table.entries[d.key()].median for st in space.descriptors(arch) for d in st
        )
        assert cost.evaluate(arch) == pytest.approx(plain, rel=1e-12)
        assert cost.quadratic_form().value(space.encode(arch)) == pytest.approx(plain, rel=1e-12)
        assert table.t0 + table_sum(space, arr, arch) == pytest.approx(plain, rel=1e-12)
    assert np.allclose(cost.evaluate_many(archs), [cost.evaluate(a) for a in archs])
    # the min statistic predicts with the minima
    low = table.with_stat("min")
    a = archs[0]
    expected = (
        0.08 + 0.03 + sum(table.entries[d.key()].min for st in space.descriptors(a) for d in st)
    )
    assert low.predict(space, a) == pytest.approx(expected)
    assert low.cost_model(space).quadratic_form().value(space.encode(a)) == pytest.approx(expected)


def test_json_and_sqlite_round_trip(space, tmp_path):
    table = synthetic_table(space)
    table.set_correction(1.1, 0.05)
    path = table.to_json(tmp_path / "t.json")
    back = CostTable.from_json(path)
    assert back == table
    store = Store(tmp_path / "s.sqlite")
    back.save(store)
    again = CostTable.from_store(store, table.id)
    assert again == table
    assert json.loads(path.read_text())["unit"] == "ms"
    (tmp_path / "bad.json").write_text('{"kind": "other"}')
    with pytest.raises(ValueError, match="not a budgetnas cost table"):
        CostTable.from_json(tmp_path / "bad.json")


def test_fingerprint_mismatch_refused_unless_forced(space, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    elsewhere = synthetic_table(space, cpu="Cortex-A76 (target)", torch="2.0.0")
    elsewhere.save(store)
    with pytest.raises(FingerprintMismatch, match="cpu") as err:
        load_table(store, space)
    assert "Cortex-A76" in str(err.value) and "--force" in str(err.value)
    assert load_table(store, space, force=True) == elsewhere
    assert load_table(store, space, table_id=elsewhere.id) == elsewhere  # named explicitly
    with pytest.raises(FingerprintMismatch):
        check_fingerprint(elsewhere, current_fingerprint(space))
    check_fingerprint(elsewhere, current_fingerprint(space), force=True)
    here = synthetic_table(space, seed=3)
    here.save(store)
    assert load_table(store, space) == here  # the exact fingerprint wins
    with pytest.raises(FileNotFoundError, match="lut build"):
        load_table(store, MobileNetSpace(preset="fmnist-small"))
    with pytest.raises(ValueError, match="another space"):
        here.cost_model(MobileNetSpace(preset="fmnist-small"))


def test_import_then_resolve(space, tmp_path):
    table = synthetic_table(space, cpu="target-device")
    path = table.to_json(tmp_path / "target.json")
    store = Store(tmp_path / "s.sqlite")
    imported = import_table(store, path)
    assert imported.source == "imported"
    with pytest.raises(FingerprintMismatch):
        resolve_cost("latency_ms", space, store=store)
    by_id = resolve_cost("latency_ms", space, store=store, table_id=imported.id)
    by_file = resolve_cost("latency_us", space, table=path)
    a = space.sample(0)
    assert (
        by_id.evaluate(a)
        == pytest.approx(by_file.evaluate(a))
        == pytest.approx(table.predict(space, a))
    )


def test_correction_applied_only_when_asked(space):
    table = synthetic_table(space)
    a = space.sample(5)
    with pytest.raises(ValueError, match="no fitted correction"):
        table.cost_model(space, corrected=True)
    pred = np.array([1.0, 2.0, 3.0, 4.0])
    slope, intercept = fit_correction(pred, 1.2 * pred + 0.3)
    assert slope == pytest.approx(1.2) and intercept == pytest.approx(0.3)
    table.set_correction(slope, intercept)
    plain = table.cost_model(space).evaluate(a)
    assert table.cost_model(space, corrected=True).evaluate(a) == pytest.approx(1.2 * plain + 0.3)
    form = table.cost_model(space, corrected=True).quadratic_form()
    assert form.value(space.encode(a)) == pytest.approx(1.2 * plain + 0.3)
    with pytest.raises(ValueError, match="fitted on"):
        table.with_stat("min").cost_model(space, corrected=True)


@pytest.mark.parametrize(("slope", "intercept"), [(-0.08, 1.0), (0.0, 0.1), (1.0, float("nan"))])
def test_a_correction_the_table_would_refuse_is_not_set(space, tmp_path, slope, intercept):
    table = synthetic_table(space)
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="correction"):
        table.set_correction(slope, intercept, store)
    assert table.correction is None and not list(store.items(CORRECTION_KIND))


def test_milp_with_params_and_latency_budgets():
    space = MobileNetSpace(preset="fmnist-small")
    table = synthetic_table(space, seed=7)
    lat = table.cost_model(space)
    params = resolve_cost("params_m", space)
    p_mid = (params.evaluate(space.smallest()) + params.evaluate(space.heaviest())) / 2
    l_mid = (lat.evaluate(space.smallest()) + lat.evaluate(space.heaviest())) / 2
    cons = [
        constraint(f"params_m<={p_mid}", space),
        constraint(f"latency_ms<={l_mid}", space, table=table),
    ]
    rng = np.random.default_rng(0)
    # linear, preferring slow blocks and deep stages (so the budgets bind), solved fast
    pref = lat.quadratic_form().linear.copy()
    for s in range(5):
        for b in (2, 3):
            pref[space.group_slice(space.block_group(s, b))] = pref[
                space.group_slice(space.block_group(s, 1))
            ]
        pref[space.group_slice(space.depth_group(s))] = [0.0, 0.01, 0.02]
    objective = QuadraticForm(0.0, pref + rng.uniform(0, 1e-4, size=space.n_binaries))
    res = create_solver("milp", time_limit=60).solve(Problem(space, cons, objective=objective))
    assert space.count_params(res.arch) / 1e6 <= p_mid * (1 + 1e-9)
    assert table.predict(space, res.arch) <= l_mid * (1 + 1e-9)
    assert max(b.value / b.limit for b in res.budgets) > 0.9  # a budget binds


@pytest.mark.parametrize("value", [-1.0, 0.0, float("nan"), float("inf")])
def test_assembled_table_with_a_bad_entry_refused(space, value):
    """However a table is made (measured, assembled in code), a cost of 0 or less, NaN or
    infinite is refused with the entry named: it would make any budget look met."""
    good = synthetic_table(space)
    key = sorted(good.entries)[0]
    entries = dict(good.entries, **{key: Measurement(value, 0.1, 0.1, 0.1, 0.1, 10)})
    with pytest.raises(ValueError, match=f"entry '{key}' median"):
        CostTable(good.fingerprint, entries, t0=good.t0, t0_parts=good.t0_parts)
    with pytest.raises(ValueError, match="t0"):
        CostTable(good.fingerprint, good.entries, t0=value)
