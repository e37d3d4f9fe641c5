import numpy as np
import pytest

from budgetnas.costs._base import Constraint, FormCost
from budgetnas.costs.counting import CountCost
from budgetnas.forms import QuadraticForm
from budgetnas.pipeline import BudgetNotMetError, closed_loop, search
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.units import parse_budget


@pytest.fixture(scope="module")
def space():
    return MobileNetSpace(preset="tiny")


@pytest.fixture(scope="module")
def objective(space):
    # bigger is better, with noise: the budgets bind
    params = CountCost(space, "params_m").quadratic_form()
    rng = np.random.default_rng(0)
    noise = QuadraticForm(0.0, rng.normal(0, 1e-3, size=space.n_binaries))
    return params + noise


def _latency(space, scale=10.0):
    """A stand-in latency table: 10 ms per million parameters (an exact form)."""
    form = CountCost(space, "params_m").quadratic_form().scaled(scale)
    return FormCost("latency_ms", form, space)


def test_search_respects_every_budget(space, objective):
    heavy = space.count_params(space.heaviest()) / 1e6
    limit = 0.6 * heavy
    res = search(space, objective, [f"params_m<={limit}", "flops_m<=1000"], solver="milp")
    assert res.feasible
    assert space.count_params(res.arch) / 1e6 <= limit + 1e-12
    assert {b.metric for b in res.budgets} == {"params_m", "flops_m"}


def test_closed_loop_tightens_when_measurement_exceeds(space, objective):
    cost = _latency(space)
    limit = 0.6 * cost.evaluate(space.heaviest())
    con = Constraint(parse_budget(f"latency_ms<={limit}"), cost)
    calls = []

    def slow_device(arch):  # the device is 30% slower than the table says
        calls.append(arch)
        return 1.3 * cost.evaluate(arch)

    loop = closed_loop(space, objective, constraints=[con], measurers={"latency_ms": slow_device})
    assert loop.ok, loop.message
    assert len(loop.rounds) >= 2 and len(calls) == len(loop.rounds)
    first = loop.rounds[0]["budgets"][0]
    assert first["measured"] > limit and not first["ok"]  # round 1 broke the budget on the device
    tightened = loop.rounds[1]["solver_limits"]["latency_ms"]
    assert tightened == pytest.approx(limit * first["predicted"] / first["measured"])
    final = loop.budgets[0]
    assert final.measured <= limit and final.predicted <= tightened + 1e-9
    assert final.slack == pytest.approx(limit - final.measured)
    assert final.verified == "measured" and final.solver_limit == pytest.approx(tightened)
    assert loop.to_dict()["ok"] is True
    assert loop.to_dict()["budgets"][0]["measured"] == final.measured


def test_closed_loop_never_returns_over_budget_silently(space, objective):
    cost = _latency(space)
    limit = 0.6 * cost.evaluate(space.heaviest())
    con = Constraint(parse_budget(f"latency_ms<={limit}"), cost)

    def always_over(arch):
        return 2 * limit

    with pytest.raises(BudgetNotMetError) as info:
        closed_loop(
            space, objective, constraints=[con], measurers={"latency_ms": always_over}, max_rounds=2
        )
    assert "latency_ms" in str(info.value)
    assert info.value.result.ok is False
    loop = closed_loop(
        space,
        objective,
        constraints=[con],
        measurers={"latency_ms": always_over},
        max_rounds=2,
        raise_on_failure=False,
    )
    assert not loop.ok and loop.message and len(loop.rounds) == 2
    assert all(not r["budgets"][0]["ok"] for r in loop.rounds)


def test_closed_loop_without_measurer_is_one_round(space, objective):
    heavy = space.count_params(space.heaviest()) / 1e6
    loop = closed_loop(space, objective, [f"params_m<={0.5 * heavy}"])
    assert loop.ok and len(loop.rounds) == 1
    row = loop.budgets[0]
    assert row.measured is None and row.predicted <= 0.5 * heavy
    assert row.verified == "counted"  # parameters are counted exactly, not predicted
    with pytest.raises(ValueError, match="without a budget"):
        closed_loop(space, objective, [f"params_m<={heavy}"], measurers={"latency_ms": len})


def test_latency_measurer_times_the_extracted_network(space):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from budgetnas.pipeline import latency_measurer
    from budgetnas.supernet import MobileNetSupernet

    net = MobileNetSupernet(space)
    fp = {"backend": "torch-cpu", "threads": 1, "batch": 1, "clock": "auto"}
    ms = latency_measurer(net, fp, repeats=3, warmup=1)(space.smallest())
    assert 0 < ms < 1000


def test_latency_measurer_uses_the_tables_statistic(space, monkeypatch):
    pytest.importorskip("torch")
    import budgetnas.costs.latency as latency
    from budgetnas.pipeline import latency_measurer
    from budgetnas.supernet import MobileNetSupernet

    spiky = latency.Measurement.from_samples([2.0, 2.1, 2.2, 9.0, 9.5])
    monkeypatch.setattr(latency, "measure", lambda runners, **kw: {"net": spiky})
    net, fp = MobileNetSupernet(space), {"backend": "torch-cpu", "threads": 1, "batch": 1}
    assert latency_measurer(net, fp)(space.smallest()) == pytest.approx(spiky.median)
    assert latency_measurer(net, fp, stat="min")(space.smallest()) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="stat"):
        latency_measurer(net, fp, stat="mean")


def test_pareto_one_solver_call_per_budget(space, objective):
    from budgetnas.pipeline.pareto import pareto, parse_sweep

    assert parse_sweep("latency_us=1000,1500") == ("latency_ms", [1.0, 1.5])
    with pytest.raises(ValueError):
        parse_sweep("latency_ms")
    heavy = space.count_params(space.heaviest()) / 1e6
    small = space.count_params(space.smallest()) / 1e6
    limits = [0.5 * small, 0.4 * heavy, 0.7 * heavy, heavy]
    rows = pareto(space, objective, "params_m", limits, fixed=["flops_m<=1000"])
    assert "error" in rows[0]  # below the smallest network
    values = []
    for row, limit in zip(rows[1:], limits[1:], strict=True):
        arch = space.from_string(row["arch"])
        assert space.count_params(arch) / 1e6 <= limit + 1e-12
        assert {b["metric"] for b in row["budgets"]} == {"params_m", "flops_m"}
        values.append(row["predicted_accuracy"])
    assert values == sorted(values)  # a looser budget never predicts worse (exact solver)


def _subspace_problem():
    """The full 255-binary problem with a BINAS-structured objective, a latency table and a
    params budget; options outside a small sub-space are penalised so hard that the optimum
    lies inside it, where brute force enumerates every architecture (canonical: one per
    network)."""
    import itertools

    from budgetnas.costs.counting import block_form
    from budgetnas.predictors.binas import binas_form
    from budgetnas.spaces.mobilenet import DEPTHS, MAX_DEPTH, N_BLOCK_OPTIONS, N_STAGES

    space = MobileNetSpace(preset="tiny")
    rng = np.random.default_rng(7)
    allowed = {0: (0, 5, 11), 1: (1, 10)}  # stage -> block options; other stages fixed
    blocks = rng.normal(0, 0.01, size=(N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
    depth = rng.normal(0, 0.02, size=(N_STAGES, len(DEPTHS)))
    for s in range(N_STAGES):
        keep = allowed.get(s, (0,))
        blocks[s][:, [c for c in range(N_BLOCK_OPTIONS) if c not in keep]] = -10.0
        if s not in allowed:
            depth[s, 1:] = -10.0
    objective = binas_form(space, 0.5, blocks, depth)
    lat_table = rng.uniform(0.05, 0.3, size=(N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
    latency = FormCost("latency_ms", block_form(space, lat_table, const=0.4), space)

    # every architecture of the sub-space
    per_stage = {
        s: [
            (d, opts)
            for d in range(len(DEPTHS))
            for opts in itertools.product(allowed.get(s, (0,)), repeat=MAX_DEPTH)
        ]
        if s in allowed
        else [(0, (0,) * MAX_DEPTH)]
        for s in range(N_STAGES)
    }
    archs = set()
    for combo in itertools.product(*per_stage.values()):
        choices = [0] * space.n_groups
        for s, (d, opts) in enumerate(combo):
            for b, c in enumerate(opts):
                choices[space.block_group(s, b)] = c
            choices[space.depth_group(s)] = d
        archs.add(space.canonicalize(space.arch(choices)))
    archs = sorted(archs, key=str)
    X = space.encode_many(archs)
    lat = latency.quadratic_form().values(X)
    params = CountCost(space, "params_m").quadratic_form().values(X)
    values = objective.values(X)
    return space, objective, latency, lat, params, values


def test_milp_on_the_mobilenet_space_equals_brute_force_on_a_subspace():
    from budgetnas.search import create_solver
    from budgetnas.search._base import Problem

    space, objective, latency, lat, params, values = _subspace_problem()
    for q in (0.2, 0.5, 0.9):
        lat_limit, par_limit = np.quantile(lat, q), np.quantile(params, 0.7)
        constraints = [
            Constraint(parse_budget(f"latency_ms<={lat_limit}"), latency),
            Constraint(parse_budget(f"params_m<={par_limit}"), CountCost(space, "params_m")),
        ]
        ok = (lat <= lat_limit + 1e-9) & (params <= par_limit + 1e-9)
        best = values[ok].max()
        if q < 0.5:
            assert best < values.max()  # the budgets bind
        res = create_solver("milp").solve(Problem(space, constraints, objective=objective))
        assert res.objective == pytest.approx(best, abs=1e-9)
        assert res.feasible and latency.evaluate(res.arch) <= lat_limit + 1e-9


def test_top_k_gives_the_k_best_distinct_networks_of_brute_force():
    from budgetnas.pipeline.rerank import top_k

    space, objective, latency, lat, params, values = _subspace_problem()
    lat_limit, par_limit = np.quantile(lat, 0.5), np.quantile(params, 0.7)
    constraints = [
        Constraint(parse_budget(f"latency_ms<={lat_limit}"), latency),
        Constraint(parse_budget(f"params_m<={par_limit}"), CountCost(space, "params_m")),
    ]
    ok = (lat <= lat_limit + 1e-9) & (params <= par_limit + 1e-9)
    best = np.sort(values[ok])[::-1]
    found = top_k(space, objective, constraints, 6)
    # six different networks (blocks beyond a stage's depth left out of the cuts), in order
    assert len({r.arch for r in found}) == 6
    assert all(r.arch == space.canonicalize(r.arch) and r.feasible for r in found)
    assert [r.objective for r in found] == pytest.approx(list(best[:6]), abs=1e-9)
    # no network fits: the solver's own error, not an empty list
    from budgetnas.search import InfeasibleBudgetError

    cheapest = float(latency.quadratic_form().const)
    impossible = [Constraint(parse_budget(f"latency_ms<={cheapest}"), latency)]
    with pytest.raises(InfeasibleBudgetError):
        top_k(space, objective, impossible, 3)
    with pytest.raises(ValueError):
        top_k(space, objective, constraints, 0)


def test_reranker_keeps_the_best_scored_candidate_within_budget(space, objective):
    from budgetnas.pipeline.rerank import reranker, top_k

    limit = 0.5 * space.count_params(space.heaviest()) / 1e6
    cons = [Constraint(parse_budget(f"params_m<={limit}"), CountCost(space, "params_m"))]
    candidates = [r.arch for r in top_k(space, objective, cons, 4)]
    # a score that disagrees with the predictor: it prefers the fourth candidate
    scores = dict(zip(candidates, [0.1, 0.2, 0.3, 0.9], strict=True))
    logged = []
    choose = reranker(space, objective, 4, lambda a: scores[a], log=logged.append)
    res = choose(cons)
    assert res.arch == candidates[3] and res.feasible
    assert res.solver == "milp+rerank4" and res.history[-1]["chosen"] == 3
    assert [c["score"] for c in res.history[-1]["rerank"]] == [0.1, 0.2, 0.3, 0.9]
    assert logged and "picked #4" in logged[0]
    # as the closed loop's chooser: the round records the candidates
    loop = closed_loop(space, objective, constraints=cons, chooser=choose)
    assert loop.ok and loop.arch == candidates[3]
    assert loop.rounds[0]["rerank"]["chosen"] == 3


def test_top_k_returns_every_feasible_network_when_fewer_than_k_fit():
    from budgetnas.pipeline.rerank import top_k
    from budgetnas.testing.problems import random_problem

    problem = random_problem(3, sizes=(3, 2, 2), n_budgets=1, quantile=0.5)
    space = problem.space
    feasible = [a for a in space.enumerate() if problem.feasible(a)]
    assert 0 < len(feasible) < 12
    found = top_k(space, problem.objective, problem.constraints, 12)
    assert {r.arch for r in found} == set(feasible)
    values = [r.objective for r in found]
    assert values == sorted(values, reverse=True)
