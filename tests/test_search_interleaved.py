"""The interleaved default, its Gaussian process, the BANANAS-style ensemble and Optuna's TPE/GP."""

import numpy as np
import pytest

from budgetnas.search import create_solver
from budgetnas.search.interleaved import HammingGP, InterleavedSolver, expected_improvement
from budgetnas.spaces.toy import ToySpace
from budgetnas.testing.problems import brute_force, random_problem


def test_hamming_gp_interpolates_and_is_unsure_far_away():
    space = ToySpace((3, 3, 3, 3))
    archs = list(space.all_archs())
    X = space.encode_many(archs)
    rng = np.random.default_rng(0)
    train = rng.choice(len(archs), size=8, replace=False)
    z = rng.normal(size=8)
    gp = HammingGP(space.n_groups, noise=1e-4).fit(X[train], z)
    mean, sd = gp.predict(X[train])
    assert np.allclose(mean, z, atol=0.05) and (sd < 0.05).all()
    far = [k for k in range(len(archs)) if (space.n_groups - X[train] @ X[k]).min() >= 2]
    assert far and (gp.predict(X[far])[1] > sd.max()).all()
    assert gp.scale in gp.scales


def test_expected_improvement_prefers_higher_mean_and_higher_uncertainty():
    ei = expected_improvement(np.array([0.0, 1.0, 0.0]), np.array([0.1, 0.1, 1.0]), best=0.5)
    assert ei[1] > ei[0] and ei[2] > ei[0] and (ei >= 0).all()


def test_arms_take_turns_after_the_random_start():
    problem = random_problem(0, sizes=(4, 4, 4, 4))
    solver = InterleavedSolver(n_queries=40, n_init=5, cycle="rgx")
    solver.start(problem, np.random.default_rng(0))
    arms = []
    for _ in range(11):
        arms.append(solver.arm())
        arch = solver.ask()
        assert problem.feasible(arch) and arch not in solver._values
        solver.tell(arch, problem.score(arch))
    assert arms == ["random"] * 5 + ["ridge", "gp", "random"] * 2


@pytest.mark.parametrize("cycle", ["rgx", "g", "r"])
def test_every_feasible_cell_seen_finds_the_optimum(cycle):
    problem = random_problem(3, sizes=(3, 3, 2))
    result = create_solver("interleaved", n_queries=100, n_init=3, cycle=cycle).solve(problem)
    best, _ = brute_force(problem)
    assert result.status == "exhausted" and result.objective == pytest.approx(best)


def test_large_spaces_use_feasible_mutation_candidates(monkeypatch):
    import budgetnas.search.interleaved as mod

    monkeypatch.setattr(mod, "ENUMERATION_LIMIT", 10)  # as if the space could not be listed
    problem = random_problem(1, sizes=(4, 4, 4, 4))
    result = create_solver("interleaved", n_queries=25, n_init=5).solve(problem)
    assert result.feasible and result.queries == 25
    assert len({h["arch"] for h in result.history}) == 25


def test_bad_settings_refused():
    with pytest.raises(ValueError, match="cycle"):
        InterleavedSolver(cycle="rq")
    with pytest.raises(ValueError, match="n_init"):
        InterleavedSolver(n_init=0)


def test_mlp_ensemble_learns_a_smooth_function():
    from budgetnas.search.bananas import MLPEnsemble

    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(200, 8)).astype(float)
    y = X @ np.linspace(-1, 1, 8) + 0.5 * X[:, 0] * X[:, 1]
    model = MLPEnsemble(members=3, epochs=300).fit(X[:150], y[:150], rng)
    mean, std = model.predict(X[150:])
    assert np.corrcoef(mean, y[150:])[0, 1] > 0.95
    assert (std >= 0).all() and std.mean() > 0


@pytest.mark.parametrize(("infeasible", "state"), [("fail", "FAIL"), ("constraint", "COMPLETE")])
def test_optuna_over_budget_trials(infeasible, state):
    problem = random_problem(2, sizes=(4, 4, 4, 4), quantile=0.2)
    solver = create_solver("tpe", n_queries=15, n_startup=5, infeasible=infeasible)
    result = solver.solve(problem)
    assert result.feasible
    over = [t for t in solver._study.trials if max(t.user_attrs["constraints"]) > 0]
    assert over and {t.state.name for t in over} == {state}
    with pytest.raises(ValueError, match="infeasible"):
        create_solver("optuna", infeasible="drop")
