"""The predictor fit workflow (budgetnas.predictors.fit): the same fit as the run's predictor
stage, and predictor.json files of earlier runs and of earlier ``predictor fit`` read back."""

import dataclasses
import json

import numpy as np
import pytest

from budgetnas.predictors.fit import PredictorConfig, PredictorResult

# written by the run's predictor stage before PredictorResult (values shortened)
OLD_RUN_JSON = """{"A0": 0.109375, "form": "paths", "measured_now": 256,
"fingerprint": "3f2a9c0d1e2b4a5c",
"interpretation": {"stage1": {"depth_gain": 0.01, "width_gain": -0.02}},
"paths_alpha": 316.22776601683796,
"quality": {"n": 6, "kendall_tau": 0.2, "spearman": 0.3, "pearson": 0.4, "rmse": 0.05},
"quality_points": {"predicted": [0.1, 0.2], "oneshot": [0.15, 0.1]},
"quality_by_form": {"binas": {"n": 6, "kendall_tau": 0.1, "spearman": 0.2, "pearson": 0.3,
"rmse": 0.06}, "paths": {"n": 6, "kendall_tau": 0.2, "spearman": 0.3, "pearson": 0.4,
"rmse": 0.05}},
"target_reliability": {"unavailable": "too few batches"},
"const": 0.109375, "linear": [0.0, 0.01, -0.02], "pair_i": [0], "pair_j": [2],
"pair_w": [0.005]}"""

# written by `budgetnas predictor fit` before PredictorResult: the reports at the top level
OLD_CLI_JSON = """{"A0": 0.125, "center": "depth", "sampling": "independent",
"interpretation": {"stage1": {"depth_gain": 0.0, "width_gain": 0.01}},
"binas": {"n": 6, "kendall_tau": 0.1, "spearman": 0.2, "pearson": 0.3, "rmse": 0.06},
"binas_center_a0": {"n": 6, "kendall_tau": 0.0, "spearman": 0.1, "pearson": 0.2, "rmse": 0.07},
"paths": {"n": 6, "kendall_tau": 0.2, "spearman": 0.3, "pearson": 0.4, "rmse": 0.05},
"paths_alpha": 100.0,
"ridge": {"n": 6, "kendall_tau": -0.1, "spearman": 0.0, "pearson": 0.1, "rmse": 0.08},
"target_reliability": {"split_half_tau": 0.5, "reliability": 0.6, "tau_ceiling": 0.7},
"const": 0.125, "linear": [0.01, 0.0, 0.02], "pair_i": [], "pair_j": [], "pair_w": []}"""


def test_old_run_predictor_json_loads_and_round_trips(tmp_path):
    data = json.loads(OLD_RUN_JSON)
    (tmp_path / "predictor.json").write_text(OLD_RUN_JSON)
    res = PredictorResult.load(tmp_path)  # a folder: its predictor.json
    assert res.searched == "paths" and res.intercept == 0.109375 and res.center == "depth"
    assert res.sampling is None and res.measured_now == 256
    assert res.form.linear.tolist() == [0.0, 0.01, -0.02] and res.form.pair_w.tolist() == [0.005]
    # the run's result.json entry is what the run wrote, key for key
    info_keys = [k for k in data if k not in ("const", "linear", "pair_i", "pair_j", "pair_w")]
    assert res.info() == {k: data[k] for k in info_keys}
    assert list(res.info()) == info_keys
    out = res.to_json()
    assert {k: v for k, v in out.items() if k != "center"} == data
    assert PredictorResult.from_json(out).to_json() == out


def test_old_predictor_fit_json_loads_with_its_reports(tmp_path):
    data = json.loads(OLD_CLI_JSON)
    path = tmp_path / "predictor.json"
    path.write_text(OLD_CLI_JSON)
    res = PredictorResult.load(path)
    assert res.searched == "binas" and res.intercept == 0.125
    assert (res.center, res.sampling) == ("depth", "independent")
    assert res.quality == data["binas"]
    assert set(res.quality_by_form) == {"binas", "binas_center_a0", "paths", "ridge"}
    assert res.quality_by_form["ridge"] == data["ridge"]
    assert res.paths_alpha == 100.0 and res.target_reliability == data["target_reliability"]
    assert res.measured_now is None and res.fingerprint is None
    again = PredictorResult.load(res.save(tmp_path / "again.json"))
    assert again.to_json() == res.to_json()


def test_config_rejects_what_it_cannot_fit():
    from budgetnas.predictors.fit import _check

    for bad, match in (
        ({"form": "ridge"}, "unknown predictor form"),
        ({"jobs": 0}, "jobs"),
        ({"subnets": 1}, "at least 2"),
    ):
        with pytest.raises(ValueError, match=match):
            _check(PredictorConfig(**bad))


@pytest.fixture(scope="module")
def trained_tiny(tmp_path_factory):
    """A tiny supernet trained with the settings of the run's tiny preset (so that the run's data
    and a TrainedSupernet's agree)."""
    torch = pytest.importorskip("torch")
    from budgetnas.training import SupernetTrainer
    from conftest import tiny_train_config

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("trained_tiny")
    cfg = tiny_train_config(subset=64, batch_size=32, eval_subset=32, inherit=False)
    try:
        SupernetTrainer(cfg, out, progress=False).run()
    finally:
        torch.set_num_threads(before)
    return out / "supernet.pt"


def _former_run_stage(trained, cfg, store, seed):
    """What the run's predictor stage computed before ``fit_predictor`` (``Pipeline._predictor``,
    written out): ``(info, form)``."""
    from budgetnas.predictors.binas import BinasPredictor
    from budgetnas.predictors.paths import paths_predictor
    from budgetnas.predictors.quality import quality_report, random_subnet_accuracies
    from budgetnas.predictors.reliability import target_reliability

    ev = trained.evaluator(
        cfg.heldout, cfg.batch, passes=cfg.passes, seed=seed, sampling=cfg.sampling
    )
    sub_ev = trained.report_evaluator(
        cfg.subnet_heldout or cfg.heldout, seed=seed, passes=cfg.passes, sampling=cfg.sampling
    )
    binas = BinasPredictor(store=store).fit(ev)
    fitted = {"binas": binas, "paths": paths_predictor(binas, store)}
    pred = fitted[cfg.form]
    info = {
        "A0": binas.intercept_,
        "form": cfg.form,
        "measured_now": binas.n_measured_,
        "fingerprint": binas.fingerprint_,
        "interpretation": pred.interpretation(),
        "paths_alpha": fitted["paths"].alpha_,
    }
    archs, accs = random_subnet_accuracies(sub_ev, cfg.subnets, store=store)
    predicted = pred.predict_archs(archs)
    info["quality"] = quality_report(predicted, accs)
    info["quality_points"] = {"predicted": predicted.tolist(), "oneshot": accs.tolist()}
    info["quality_by_form"] = {
        name: quality_report(p.predict_archs(archs), accs) for name, p in fitted.items()
    }
    info["target_reliability"] = target_reliability(sub_ev, archs, store)
    return info, pred.quadratic_form()


@pytest.mark.slow  # 512 supernet evaluations: the equivalence proof of the refactoring
def test_fit_predictor_is_the_former_run_stage(trained_tiny, tmp_path, one_thread):
    """The same evaluations (every stored record), the same form and the same result entry as
    the run's predictor stage computed before (checked against ``Pipeline._predictor`` itself
    before the pipeline called ``fit_predictor``)."""
    from budgetnas.predictors.fit import fit_predictor
    from budgetnas.store import Store
    from budgetnas.training.trained import TrainedSupernet

    cfg = PredictorConfig(heldout=32, batch=32, subnets=6)
    trained = TrainedSupernet.open(trained_tiny)
    old_store = Store(tmp_path / "old.sqlite")
    info, form = _former_run_stage(trained, cfg, old_store, seed=0)
    store = Store(tmp_path / "store.sqlite")
    lines = []
    res = fit_predictor(trained, cfg, store, seed=0, log=lines.append)
    assert "predictor: 256/256 expectations" in lines
    assert res.info() == info
    assert json.dumps(res.info(), default=float) == json.dumps(info, default=float)
    assert res.form.to_dict() == form.to_dict()
    for kind in ("binas", "oneshot"):
        assert list(store.items(kind)) == list(old_store.items(kind)), kind
    # the run's former predictor.json reads back as this result
    old = json.dumps({**info, **form.to_dict()}, default=float)
    assert PredictorResult.from_json(json.loads(old)).to_json() == {
        k: v for k, v in res.to_json().items() if k != "sampling"
    }
    # a second fit reads everything back; the BINAS form searched is the BINAS predictor's
    again = fit_predictor(trained, dataclasses.replace(cfg, form="binas"), store)
    assert again.measured_now == 0 and again.searched == "binas"
    assert again.quality_by_form == res.quality_by_form
    binas = res.fitted["binas"]
    np.testing.assert_array_equal(again.form.linear, binas.quadratic_form().linear)
    assert again.interpretation == binas.interpretation()


def test_predictor_fit_settings_come_from_its_defaults_a_file_and_the_flags(tmp_path, capsys):
    """``budgetnas predictor fit`` keeps its own defaults (every held-out image, 100 report
    subnets, the BINAS form written) under a TOML file under the flags."""
    from budgetnas.cli.main import build_parser, main
    from budgetnas.cli.predictor import CLI_DEFAULTS
    from budgetnas.config import config_from_args

    with pytest.raises(SystemExit):
        main(["predictor", "fit", "--help"])
    assert "(default: 100)" in capsys.readouterr().out  # --subnets: the command's own default
    (tmp_path / "fit.toml").write_text("batch = 16\nsubnets = 0\nheldout = 64\n")
    argv = ["predictor", "fit", "--supernet", "s.pt", "--out", str(tmp_path)]
    cfg = config_from_args(PredictorConfig, build_parser().parse_args(argv), CLI_DEFAULTS)
    assert (cfg.heldout, cfg.batch, cfg.subnets, cfg.form) == (None, 250, 100, "binas")
    argv += ["--config", str(tmp_path / "fit.toml"), "--heldout", "16", "--batch-size", "8"]
    cfg = config_from_args(PredictorConfig, build_parser().parse_args(argv), CLI_DEFAULTS)
    assert (cfg.heldout, cfg.batch, cfg.subnets, cfg.form) == (16, 8, 0, "binas")


@pytest.mark.slow  # 256 supernet evaluations
def test_predictor_fit_command_settings_from_flags_and_file(trained_tiny, tmp_path, capsys):
    """``budgetnas predictor fit`` keeps its own defaults (every held-out image, the BINAS form
    written), reads a TOML file under its flags and writes the settings it used."""
    from budgetnas.cli.main import main
    from budgetnas.config import load_toml

    with pytest.raises(SystemExit):
        main(["predictor", "fit", "--help"])
    helptext = capsys.readouterr().out
    assert "--batch-size" in helptext and "--ridge-subnets" in helptext
    assert "(default: 100)" in helptext  # --subnets: the command's default, not the run's
    (tmp_path / "fit.toml").write_text("batch = 16\nsubnets = 0\nheldout = 64\n")
    out = tmp_path / "out"
    argv = ["predictor", "fit", "--supernet", str(trained_tiny), "--out", str(out)]
    assert main([*argv, "--config", str(tmp_path / "fit.toml"), "--heldout", "16"]) == 0
    assert "A0 " in capsys.readouterr().out
    used = load_toml(out / "predictor_config.toml")
    assert (used["heldout"], used["batch"], used["subnets"], used["form"]) == (16, 16, 0, "binas")
    res = PredictorResult.load(out)
    assert res.searched == "binas" and res.quality is None and res.measured_now == 256
    assert len(res.form.linear) == 255 and res.paths_alpha is not None
