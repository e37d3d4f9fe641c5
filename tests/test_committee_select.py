"""Committee choice on synthetic probabilities: exact against brute force, costs as counted."""

import itertools

import numpy as np
import pytest

from budgetnas.committee.select import (
    Committee,
    CommitteeBudgetError,
    cascade_exits,
    choose,
    evaluate,
    parse_committee_budgets,
    threshold_grid,
)
from budgetnas.units import BudgetError


def _members(n=40, k=3, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    probs = []
    for j in range(k):  # later members are sharper (more accurate)
        logits = rng.normal(size=(n, classes)) + (1.0 + j) * np.eye(classes)[labels]
        p = np.exp(logits)
        probs.append(p / p.sum(1, keepdims=True))
    costs = [{"latency_ms": 1.0 + 2.0 * j**2, "flops_m": 10.0 * (j + 1)} for j in range(k)]
    return probs, labels, costs


def _brute_cascade(members, probs, labels, costs, budgets, grid):
    best = None
    grids = [threshold_grid(probs[i].max(1), grid) for i in members[:-1]]
    for ts in itertools.product(*grids):
        s = evaluate(Committee("cascade", members, ts), probs, labels, costs)
        if all(b.value(s["mean"], s["worst"]) <= b.limit for b in budgets):
            key = (s["accuracy"], -s["mean"]["latency_ms"])
            best = key if best is None or key > best else best
    return best


@pytest.mark.parametrize("limit", [2.0, 3.5, 6.0, 12.0])
@pytest.mark.parametrize("grid", [8, 1000])
def test_cascade_thresholds_equal_brute_force(limit, grid):
    probs, labels, costs = _members()
    budgets = parse_committee_budgets([f"latency_ms<={limit}"])
    got = choose(probs, labels, costs, budgets, kinds=("cascade",), grid=grid)
    best = None
    for k in (2, 3):
        for members in itertools.combinations(range(3), k):
            b = _brute_cascade(members, probs, labels, costs, budgets, grid)
            if b is not None and (best is None or b > best):
                best = b
    if best is None:
        assert "cascade" not in got
        return
    s = got["cascade"].stats
    assert (s["accuracy"], -s["mean"]["latency_ms"]) == pytest.approx(best)
    assert s["mean"]["latency_ms"] <= limit


def test_expected_cost_equals_counted_cost():
    probs, labels, costs = _members(n=200)
    c = Committee("cascade", (0, 1, 2), (0.7, 0.8))
    s = evaluate(c, probs, labels, costs)
    exits = cascade_exits([probs[i] for i in c.members], c.thresholds)
    counted = sum(sum(costs[j]["latency_ms"] for j in range(e + 1)) for e in exits) / len(exits)
    assert s["mean"]["latency_ms"] == pytest.approx(counted)
    assert s["worst"]["latency_ms"] == pytest.approx(sum(x["latency_ms"] for x in costs))
    assert sum(s["exit_shares"]) == pytest.approx(1.0)
    pred = [probs[e][i].argmax() for i, e in enumerate(exits)]
    assert s["accuracy"] == pytest.approx(np.mean(np.array(pred) == labels))


def test_worst_case_budget_is_hard_and_ensembles_cost_their_sum():
    probs, labels, costs = _members()
    budgets = parse_committee_budgets(["latency_ms<=20", "worst_latency_ms<=5"])
    got = choose(probs, labels, costs, budgets)
    for c in got.values():
        assert c.stats["worst"]["latency_ms"] <= 5
    ens = evaluate(Committee("ensemble", (0, 1)), probs, labels, costs)
    assert ens["mean"]["latency_ms"] == ens["worst"]["latency_ms"] == 4.0


def test_ensemble_is_the_best_subset():
    probs, labels, costs = _members(n=100, k=4)
    budgets = parse_committee_budgets(["flops_m<=70"])
    got = choose(probs, labels, costs, budgets, kinds=("ensemble",))
    accs = [
        evaluate(Committee("ensemble", m), probs, labels, costs)
        for k in (2, 3)
        for m in itertools.combinations(range(4), k)
        if sum(costs[i]["flops_m"] for i in m) <= 70
    ]
    assert got["ensemble"].stats["accuracy"] == max(a["accuracy"] for a in accs)


def test_no_committee_meets_names_the_cheapest():
    probs, labels, costs = _members()
    with pytest.raises(CommitteeBudgetError, match=r"cheapest candidate, small.*latency_ms 1"):
        choose(
            probs,
            labels,
            costs,
            parse_committee_budgets(["latency_ms<=0.5"]),
            names=["small", "mid", "large"],
        )


def test_budget_parsing():
    b = parse_committee_budgets(["latency_ms<=4", "worst_latency_ms<=12", "params_m<=1"])
    assert [(x.metric, x.worst) for x in b] == [
        ("latency_ms", False),
        ("latency_ms", True),
        ("params_m", True),
    ]
    assert parse_committee_budgets(["worst_latency<=2s"])[0].limit == 2000.0
    with pytest.raises(BudgetError):
        parse_committee_budgets(["latency_ms<=1", "latency_ms<=2"])
    with pytest.raises(BudgetError):
        parse_committee_budgets(["latency_ms>=1"])
