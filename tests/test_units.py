import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetnas.units import Budget, BudgetError, parse_budget, parse_budgets


@pytest.mark.parametrize(
    ("text", "metric", "limit"),
    [
        ("latency_ms<=3.5", "latency_ms", 3.5),
        ("latency_us<=2500", "latency_ms", 2.5),
        ("latency_s<=0.002", "latency_ms", 2.0),
        ("latency<=3.5ms", "latency_ms", 3.5),
        ("params_m<=1.2", "params_m", 1.2),
        ("params_k<=300", "params_m", 0.3),
        ("flops_m<=300", "flops_m", 300.0),
        ("flops_g<=0.3", "flops_m", 300.0),
        ("flops_ratio<=0.5", "flops_ratio", 0.5),
        ("peak_kb<=300", "peak_kb", 300.0),
        ("peak_mb<=1", "peak_kb", 1000.0),
        ("energy_j<=0.5", "energy_mj", 500.0),
        (" lat_pixel3_ms <= 5 ", "lat_pixel3_ms", 5.0),
        ("latency_pixel3_us<=1e3", "latency_pixel3_ms", 1.0),
    ],
)
def test_parse_converts_to_canonical_units(text, metric, limit):
    b = parse_budget(text)
    assert b.metric == metric
    assert b.limit == pytest.approx(limit)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latncy_ms<=3", "unknown metric.*Did you mean 'latency'"),
        ("foo_ms<=3", "unknown metric"),
        ("latency<=3", "no unit"),
        ("params<=1.2", "no unit"),
        ("latency_xs<=3", "unknown unit 'xs'"),
        ("latency_ms<=0", "positive"),
        ("latency_ms<=-1", "positive"),
        ("latency_ms>=3", "upper limits"),
        ("latency_ms<=abc", "malformed"),
        ("", "malformed"),
        ("latency_ms<=3ms", "unit twice"),
        ("peak_ratio<=0.5", "unknown unit"),
    ],
)
def test_parse_errors_are_clear(text, message):
    with pytest.raises(BudgetError, match=message):
        parse_budget(text)


def test_metrics_restrict_what_can_be_budgeted():
    assert parse_budget("lat_fpga_ms<=2", metrics=["lat_fpga_ms"]).limit == 2
    with pytest.raises(BudgetError, match="Did you mean 'lat_fpga_ms'"):
        parse_budget("lat_fgpa_ms<=2", metrics=["lat_fpga_ms", "lat_pixel3_ms"])


def test_budget_convention_and_slack():
    b = parse_budget("latency_ms<=2")
    assert b.evaluate(1.5) == pytest.approx(-0.5) and b.feasible(1.5)
    assert b.evaluate(2.5) == pytest.approx(0.5) and not b.feasible(2.5)
    assert b.slack(1.5) == pytest.approx(0.5)
    assert str(b) == "latency_ms<=2"
    assert b.with_limit(1.0).limit == 1.0
    with pytest.raises(BudgetError):
        Budget("latency_ms", float("nan"))


def test_one_budget_per_metric():
    assert len(parse_budgets(["latency_ms<=2", "params_m<=1"])) == 2
    with pytest.raises(BudgetError, match="two budgets"):
        parse_budgets(["latency_ms<=2", "latency_us<=1000"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (5, "a budget is a string"),
        (b"latency_ms<=2", "a budget is a string"),
        ("latency_s<=1e308", "out of range once converted to latency_ms"),
    ],
)
def test_odd_budgets_refused_as_budget_errors(text, message):
    with pytest.raises(BudgetError, match=message):
        parse_budget(text)


_budget_text = st.one_of(
    st.text(max_size=24),
    st.builds(
        lambda m, op, v, u: f"{m}{op}{v}{u}",
        st.sampled_from(["latency_ms", "params_m", "flops", "energy_mj", "peak_kb", "lat", ""]),
        st.sampled_from(["<=", "<", "=", ">=", "", "<=<="]),
        st.one_of(st.floats(), st.integers(-(10**30), 10**30), st.text(max_size=4)).map(str),
        st.sampled_from(["", " ms", "us", "%", " M", "x", " kB", "e999"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(_budget_text)
def test_fuzz_budget_strings(text):
    try:
        budget = parse_budget(text)
    except (BudgetError, ValueError):
        return
    assert isinstance(budget, Budget)
    assert math.isfinite(budget.limit) and budget.limit > 0
