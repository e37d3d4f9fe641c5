"""``budgetnas run`` refuses what cannot finish before it trains anything."""

import pytest

from budgetnas.pipeline.config import RunConfig
from budgetnas.pipeline.preflight import preflight
from budgetnas.search import InfeasibleBudgetError


def _cfg(**settings):
    return RunConfig.from_preset("tiny", **{"data": "synthetic", **settings})


@pytest.fixture
def no_training(monkeypatch):
    """Training the supernet fails the test: the refusal must come before it."""
    from budgetnas.training.supernet import SupernetTrainer

    def trained(*_args, **_kwargs):
        raise AssertionError("the supernet was trained before the refusal")

    monkeypatch.setattr(SupernetTrainer, "run", trained)


REFUSED = [
    (
        {"budgets": ["params_m<=0.01"]},
        "no network of this space meets params_m<=0.01: the cheapest",
    ),
    ({"budgets": ["peak_kb<=32"]}, r"peak_kb<=32: the cheapest has 32\.768"),
    ({"budgets": ["macs_m<=0.001"]}, "no network of this space meets macs_m<=0.001"),
    ({"budgets": ["energy_mj<=1"]}, "run measures no energy and takes no energy table"),
    ({"budgets": ["flops_ratio<=0.5"]}, "relative to a reference network"),
    ({"budgets": ["latency_pct<=50"]}, "relative to a reference network"),
    ({"budgets": ["params<=3"]}, "has no unit"),
    (
        {"budgets": ["params_m<=1"], "solver": "milpp"},
        "unknown solver 'milpp'.*Did you mean 'milp'",
    ),
    ({"budgets": ["params_m<=1"], "solver": "random", "rerank": 3}, "needs the milp solver"),
    ({"budgets": ["params_m<=1"], "data": "nonesuch"}, "unknown dataset 'nonesuch'"),
    ({"budgets": ["params_m<=1"], "data": "cifar10"}, "preset 'tiny' expects 3x16x16"),
]


@pytest.mark.parametrize(("settings", "message"), REFUSED)
def test_run_refuses_before_training(settings, message, tmp_path, no_training):
    from budgetnas.pipeline.run import Pipeline

    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        Pipeline(_cfg(**settings), out).run()
    assert not out.exists()  # no supernet/, no config.toml: nothing started


def test_a_device_budget_needs_its_imported_table(tmp_path, no_training):
    from budgetnas.pipeline.run import Pipeline

    out = tmp_path / "run"
    cfg = _cfg(budgets=["lat_pixel3_ms<=5"], devices=str(tmp_path / "none.sqlite"))
    with pytest.raises(FileNotFoundError, match=r"device 'pixel3'.*lut import"):
        Pipeline(cfg, out).run()
    from budgetnas.store import Store

    Store(tmp_path / "empty.sqlite")
    cfg = _cfg(budgets=["latency_pi4_ms<=5"], devices=str(tmp_path / "empty.sqlite"))
    with pytest.raises(FileNotFoundError, match="no device named 'pi4'"):
        Pipeline(cfg, out).run()
    assert not out.exists()


def test_infeasible_budget_names_the_exact_cheapest():
    from budgetnas.costs.counting import CountCost
    from budgetnas.search.program import minimum_of_form
    from budgetnas.spaces.mobilenet import MobileNetSpace

    space = MobileNetSpace(preset="tiny")
    cheapest = minimum_of_form(space, CountCost(space, "params_m").quadratic_form())
    assert cheapest <= space.count_params(space.smallest()) / 1e6
    with pytest.raises(InfeasibleBudgetError) as err:
        preflight(_cfg(budgets=[f"params_m<={0.99 * cheapest}"]))
    assert f"the cheapest has {cheapest:.6g}" in str(err.value)
    assert err.value.cheapest["params_m"] == pytest.approx(cheapest)
    preflight(_cfg(budgets=[f"params_m<={cheapest}"]))  # the cheapest itself is met


def test_feasible_budgets_pass():
    # the smallest peak exactly, several counted budgets and a latency budget (table built later)
    preflight(_cfg(budgets=["peak_kb<=32.768"]))
    preflight(_cfg(budgets=["params_m<=1", "macs_m<=100", "latency_ms<=3"]))
    preflight(_cfg(budgets=["params_m<=1"], solver="hardcore"))


def test_cli_energy_message_is_true_for_run(tmp_path, run_argv, capsys, no_training):
    from budgetnas.cli.main import main

    out = tmp_path / "run"
    assert main(run_argv(out, "--budget", "energy_mj<=1")) == 2
    err = capsys.readouterr().err
    assert "budgetnas run: error:" in err and "macs_m or flops_m" in err
    assert "table=PATH" not in err and "Traceback" not in err
    assert not (out / "supernet").exists()
