"""budgetnas.results.BudgetRow: one budget row everywhere, and the older untyped rows."""

import pytest

from budgetnas.costs import Constraint, FunctionCost
from budgetnas.costs.counting import CountCost
from budgetnas.results import BudgetRow, budget_rows
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.units import parse_budget


def test_row_judges_on_the_measurement_and_needs_the_prediction_to_fit_too():
    b = parse_budget("latency_ms<=5")
    assert BudgetRow.of(b, 4.0, 4.5).ok and BudgetRow.of(b, 4.0, 4.5).verified == "measured"
    over = BudgetRow.of(b, 4.0, 5.5)
    assert not over.ok and over.value == 5.5 and over.slack == pytest.approx(-0.5)
    assert not BudgetRow.of(b, 5.5, 4.0).ok  # fits only by the luck of one measurement
    counted = BudgetRow.of(parse_budget("params_m<=1"), 0.5, verified="counted")
    assert counted.verified == "counted" and counted.value == 0.5 and counted.measured is None
    with pytest.raises(ValueError, match="unknown verification"):
        BudgetRow.of(b, 1.0, verified="guessed")


def test_json_round_trip_and_older_rows():
    row = BudgetRow.of(parse_budget("latency_ms<=5"), 4.0, 4.5, solver_limit=4.8, where="here")
    data = row.to_json()
    assert data["feasible"] is True and data["solver_limit"] == 4.8
    assert BudgetRow.from_json(data) == row
    # the closed loop's rows before the typed row (no value, no verification)
    old = {
        "metric": "latency_ms",
        "limit": 5.0,
        "solver_limit": 5.0,
        "predicted": 4.0,
        "measured": 4.5,
        "slack": 0.5,
        "ok": True,
    }
    assert BudgetRow.from_json(old).value == 4.5 and BudgetRow.from_json(old).verified == "measured"
    # the solvers' rows (value and feasible, no predicted)
    solver = {"metric": "params_m", "limit": 1.0, "value": 0.7, "slack": 0.3, "feasible": False}
    read = BudgetRow.from_json(solver)
    assert read.predicted == 0.7 and read.ok is False
    with pytest.raises(ValueError, match="no verdict"):
        BudgetRow.from_json({"metric": "m", "limit": 1.0, "value": 0.5})
    with pytest.raises(ValueError, match="needs metric and limit"):
        BudgetRow.from_json({"value": 1.0})


def test_budget_rows_say_how_each_cost_is_known():
    space = MobileNetSpace(preset="tiny")
    arch = space.smallest()
    params = CountCost(space, "params_m")
    latency = FunctionCost("latency_ms", lambda a: 1.0)
    cons = [
        Constraint(parse_budget("params_m<=10"), params),
        Constraint(parse_budget("latency_ms<=2"), latency),
    ]
    rows = budget_rows(cons, arch, measured={"latency_ms": 1.5}, where={"latency_ms": "cpu"})
    assert [r.verified for r in rows] == ["counted", "measured"]
    assert rows[0].value == pytest.approx(space.count_params(arch) / 1e6)
    assert rows[1].where == "cpu" and rows[1].predicted == 1.0
    assert budget_rows(cons[1:], arch)[0].verified == "predicted"
