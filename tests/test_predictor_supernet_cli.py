import json

import pytest

torch = pytest.importorskip("torch")

from budgetnas.predictors.paths import ALPHA_GRID  # noqa: E402
from conftest import tiny_train_config  # noqa: E402


@pytest.mark.slow
def test_predictor_fit_cli_reports_quality_and_resumes(tmp_path, capsys):
    from budgetnas.cli.main import main
    from budgetnas.training import SupernetTrainer

    torch.set_num_threads(1)
    # 2 training steps: with the 3x3 kernels inherited from the 5x5 ones, all 6 report subnets
    # predict alike and the split-half statistics do not exist; random 3x3 kernels make them differ
    cfg = tiny_train_config(eval_subset=16, subset=64, inherit=False)
    SupernetTrainer(cfg, tmp_path / "sn", progress=False).run()
    out = tmp_path / "pred"
    rep_ceiling_keys = {"split_half_tau", "reliability", "tau_ceiling"}
    argv = ["predictor", "fit", "--supernet", str(tmp_path / "sn" / "supernet.pt")]
    argv += ["--out", str(out), "--heldout", "16", "--batch-size", "16", "--subnets", "6"]
    argv += ["--ridge-subnets", "6", "--subnet-heldout", "32"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "binas: Kendall tau" in printed and "ridge: Kendall tau" in printed
    assert "gain from depth" in printed
    # the 32 report images come in 8 batches: the target's noise ceiling is reported
    assert "no predictor can expect a Kendall tau above" in printed
    assert rep_ceiling_keys <= set(
        json.loads((out / "predictor.json").read_text())["target_reliability"]
    )
    rep = json.loads((out / "predictor.json").read_text())
    assert rep["paths_alpha"] in ALPHA_GRID  # the path regression's cross-validated penalty
    reports = rep["quality_by_form"]
    assert rep["form"] == "binas" and rep["quality"] == reports["binas"]
    for name in ("binas", "binas_center_a0", "paths", "ridge"):
        r = reports[name]
        assert r["n"] == 6 and set(r) >= {"kendall_tau", "spearman", "rmse"}
    assert len(rep["linear"]) == 255
    assert (out / "predictor_scatter.png").is_file()
    # every evaluation is in the store: a second fit measures nothing new and agrees
    from budgetnas.store import Store

    n_binas = len(list(Store(out / "store.sqlite").items("binas")))
    assert n_binas == 256
    assert main(argv) == 0
    again = json.loads((out / "predictor.json").read_text())
    assert again["linear"] == rep["linear"] and again["quality"] == rep["quality"]
    assert again["measured_now"] == 0
    # two processes sharing the store measure the same expectations and subnets
    out2 = tmp_path / "pred2"
    argv2 = [*argv, "--jobs", "2"]
    argv2[argv2.index(str(out))] = str(out2)
    assert main(argv2) == 0
    assert "tasks on local, 2 worker(s)" in capsys.readouterr().err
    parallel = json.loads((out2 / "predictor.json").read_text())
    assert parallel["linear"] == rep["linear"]
    assert parallel["quality_by_form"] == rep["quality_by_form"]
    assert len(list(Store(out2 / "store.sqlite").items("binas"))) == 256
