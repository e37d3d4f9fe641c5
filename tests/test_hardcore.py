"""The hardcore solver: Frank-Wolfe on supernet gradients, every iterate within every budget."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from budgetnas.data import get_dataset, make_loader  # noqa: E402
from budgetnas.forms import QuadraticForm  # noqa: E402
from budgetnas.pipeline.search import build_constraints  # noqa: E402
from budgetnas.search import InfeasibleBudgetError, Problem, create_solver  # noqa: E402
from budgetnas.search.hardcore import coordinate_blocks, sample_path  # noqa: E402
from budgetnas.spaces.mobilenet import MobileNetSpace  # noqa: E402
from budgetnas.supernet import MobileNetSupernet  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = 1e-9


@pytest.fixture(scope="module")
def supernet() -> MobileNetSupernet:
    """The tiny space's supernet at its seeded initialisation."""
    torch.manual_seed(0)
    return MobileNetSupernet(MobileNetSpace(preset="tiny")).eval()


@pytest.fixture(scope="module")
def space(supernet) -> MobileNetSpace:
    return supernet.space


@pytest.fixture(scope="module")
def batches():
    return list(make_loader(get_dataset("synthetic", "heldout", subset=32), 16, False))


def budgets_at(space, frac: float) -> list[str]:
    """params and flops limits a fraction ``frac`` of the way from the smallest to the heaviest."""
    out = []
    for metric, count, unit in (
        ("params_m", space.count_params, 1e6),
        ("flops_m", space.count_flops, 1e6),
    ):
        lo, hi = count(space.smallest()), count(space.heaviest())
        out.append(f"{metric}<={(lo + frac * (hi - lo)) / unit:.9g}")
    return out


def problem_for(space, budgets) -> Problem:
    # the objective form is only reported (predicted); hardcore follows the supernet
    return Problem(space, build_constraints(space, budgets), objective=QuadraticForm.zeros(255))


def solve(space, supernet, batches, budgets, **kw):
    problem = problem_for(space, budgets)
    solver = create_solver(
        "hardcore",
        supernet=supernet,
        batches=batches,
        **{"steps": 10, "gamma": 0.3, "batch_size": 4, **kw},
    )
    return problem, solver, solver.solve(problem)


@pytest.fixture(scope="module", params=[0.4, 0.03], ids=["loose", "tight"])
def solved(request, space, supernet, batches):
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    threads = torch.get_num_threads()  # module fixtures run before the one_thread fixture
    torch.set_num_threads(1)
    try:
        problem, solver, result = solve(space, supernet, batches, budgets_at(space, request.param))
    finally:
        torch.set_num_threads(threads)
    return problem, solver, result, before


def test_every_iterate_is_within_every_budget(space, solved):
    problem, solver, result, _ = solved
    limits = [c.budget.limit for c in problem.constraints]
    assert [h["step"] for h in result.history] == list(range(-1, 10))  # start + every step
    assert [h["block"] for h in result.history[1:5]] == ["alpha", "beta", "alpha", "beta"]
    moved = 0
    for h in result.history:
        for value, limit in zip(h["budgets"], limits, strict=True):
            assert value <= limit + TOL * max(1.0, limit)
        moved += h["gamma"] > 0
    assert moved >= 8
    assert "supernet gradients" in result.status
    x = solver.x_
    assert np.all(x >= 0)
    sums = [x[space.group_slice(g)].sum() for g in range(space.n_groups)]
    np.testing.assert_allclose(sums, 1.0)


def test_start_is_the_most_uniform_feasible_point(space, solved):
    problem, _, result, _ = solved
    uniform = np.concatenate([np.full(s, 1.0 / s) for s in space.group_sizes])
    limits = np.array([c.budget.limit for c in problem.constraints])
    at_uniform = np.array([c.cost.quadratic_form().value(uniform) for c in problem.constraints])
    start = np.array(result.history[0]["budgets"])
    tight = problem.constraints[0].budget.limit < at_uniform[0] / 2
    if not tight:
        np.testing.assert_allclose(start, at_uniform)
    else:  # uniform breaks the budgets: the start lies on the boundary, some budget binds
        assert np.all(at_uniform > limits)
        assert np.max(start / limits) > 0.99


def test_returned_arch_meets_every_budget_exactly(space, solved):
    problem, _, result, _ = solved
    arch = result.arch
    counts = {"params_m": space.count_params(arch) / 1e6, "flops_m": space.count_flops(arch) / 1e6}
    for row, c in zip(result.budgets, problem.constraints, strict=True):
        assert row.value == pytest.approx(counts[row.metric], rel=1e-12)
        assert row.value <= c.budget.limit and row.ok
    assert result.feasible


def test_supernet_is_left_as_it_was(supernet, solved):
    *_, before = solved
    assert not supernet.training
    assert all(p.requires_grad for p in supernet.parameters())
    for k, v in supernet.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_infeasible_budget_raises(space, supernet, batches):
    cheapest = space.count_params(space.smallest()) / 1e6
    with pytest.raises(InfeasibleBudgetError, match="cheapest"):
        solve(space, supernet, batches, [f"params_m<={0.9 * cheapest:.9g}"])


def test_moves_towards_the_option_the_loss_favours(space, supernet, batches, monkeypatch):
    """A fake term in the logits rewards one block option and one depth: the straight-through
    gradient must carry it through the supernet to the LP, so the search ends on both."""
    group, option = space.block_group(2, 0), 11  # e6k5se, the most expensive option
    depth_group, depth = space.depth_group(1), 2  # stage 2 at depth 4
    favoured = [space.offsets[group] + option, space.offsets[depth_group] + depth]
    labels = [(x, torch.zeros_like(y)) for x, y in batches]  # class 0 everywhere
    budgets = budgets_at(space, 0.5)
    kw = {"steps": 12, "gamma": 0.35}

    _, plain, _ = solve(space, supernet, labels, budgets, **kw)
    original = supernet.forward_gated

    def rewarded(x, gates):
        logits = original(x, gates)
        bonus = 10.0 * (gates[favoured[0]] + gates[favoured[1]])
        return logits + torch.nn.functional.one_hot(torch.tensor(0), logits.shape[1]) * bonus

    monkeypatch.setattr(supernet, "forward_gated", rewarded)
    _, solver, result = solve(space, supernet, labels, budgets, **kw)
    assert solver.x_[favoured[0]] > 0.9 and solver.x_[favoured[1]] > 0.9
    assert result.arch.choices[group] == option and result.arch.choices[depth_group] == depth
    assert plain.x_[favoured[0]] < 0.5  # without the reward the search goes elsewhere


def test_blocks_and_sampling(space):
    forms = [c.cost.quadratic_form() for c in build_constraints(space, budgets_at(space, 0.5))]
    (a, alpha), (b, beta) = coordinate_blocks(space, forms)
    assert (a, b) == ("alpha", "beta") and len(alpha) == 20 and len(beta) == 5
    x = np.concatenate([np.full(s, 1.0 / s) for s in space.group_sizes])
    sl = space.group_slice(0)
    x[sl] = 0.0
    x[sl.start + 4] = 1.0  # group 0 certain: always option 4
    rng = np.random.default_rng(0)
    hs = np.array([sample_path(space, x, rng) for _ in range(600)])
    assert np.all(hs[:, sl.start + 4] == 1)
    for g in range(space.n_groups):
        assert np.all(hs[:, space.group_slice(g)].sum(axis=1) == 1)
    depth = hs[:, space.group_slice(space.depth_group(0))].mean(axis=0)
    np.testing.assert_allclose(depth, 1 / 3, atol=0.07)  # Gumbel-max draws from x


def test_needs_batches_with_a_supernet(supernet):
    with pytest.raises(ValueError, match="batches"):
        create_solver("hardcore", supernet=supernet)


@pytest.mark.slow
def test_run_end_to_end_with_hardcore(tmp_path, capsys, space, run_argv):
    from budgetnas.cli.main import main

    limit = 0.5 * space.count_params(space.heaviest()) / 1e6
    out = tmp_path / "run"
    argv = run_argv(out, "--solver", "hardcore", "--budget", f"params_m<={limit}")
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["solver"] == "hardcore"
    arch = space.from_string((out / "arch.txt").read_text())
    assert result["arch"] == str(arch)
    assert space.count_params(arch) / 1e6 <= limit and result["budgets"][0]["ok"]
    assert (out / "model.onnx").is_file() and (out / "model.pt").is_file()
    from budgetnas.pipeline.config import load_run_config

    assert load_run_config(out)[0].search.hardcore_steps == 6
    capsys.readouterr()
    assert (
        main(
            ["pareto", "--run", str(out), "--budgets", f"params_m={limit}", "--solver", "hardcore"]
        )
        == 2
    )
    assert "budgetnas run --solver hardcore" in capsys.readouterr().err
