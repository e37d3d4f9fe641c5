import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from budgetnas.predictors.paths import ALPHA_GRID  # noqa: E402


@pytest.mark.slow
def test_run_end_to_end_tiny_synthetic(tiny_run, capsys, one_thread):
    from budgetnas.cli.main import main

    space, limit, out, argv = tiny_run.space, tiny_run.limit, tiny_run.out, tiny_run.argv
    summary = json.loads(tiny_run.stdout.strip().splitlines()[-1])
    for name in ("result.json", "arch.txt", "model.pt", "model.onnx", "predictor.json"):
        assert (out / name).is_file(), name
    result = json.loads((out / "result.json").read_text())
    arch = space.from_string((out / "arch.txt").read_text())
    assert result["arch"] == summary["arch"] == str(arch)
    row = result["budgets"][0]
    assert row["metric"] == "params_m" and row["ok"]
    assert space.count_params(arch) / 1e6 == pytest.approx(row["predicted"])
    assert row["predicted"] <= limit and row["slack"] == pytest.approx(limit - row["predicted"])
    for k in ("oneshot_heldout_acc", "finetuned_heldout_acc", "test_acc"):
        assert 0.0 <= result[k] <= 1.0
    assert set(result["wall_s"]) >= {"supernet_s", "predictor_s", "search_s", "finetune_s"}
    # what the network was trained on travels with it: class names in output order, input shape
    # and normalization
    data = result["dataset"]
    assert (data["name"], data["image_size"], data["num_classes"]) == ("synthetic", 16, 4)
    assert json.loads((out / "labels.json").read_text()) == ["0", "1", "2", "3"]
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["input"] == [1, 3, 16, 16] and prep["mean"] == data["mean"]
    assert "## Data" in (out / "summary.md").read_text()
    # model.pt reloads with plain torch and agrees with the ONNX model
    import onnxruntime as ort

    model = torch.jit.load(str(out / "model.pt"))
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        y = model(x).numpy()
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], y, atol=1e-4, rtol=1e-3)
    # a second run reuses every stage: no supernet training, no new predictor evaluations
    mtime = (out / "supernet" / "supernet.pt").stat().st_mtime
    assert main(argv) == 0
    assert (out / "supernet" / "supernet.pt").stat().st_mtime == mtime
    again = json.loads((out / "result.json").read_text())
    assert again["predictor"]["measured_now"] == 0
    assert again["arch"] == result["arch"] and again["test_acc"] == result["test_acc"]
    # a run asking for other supernet settings refuses to reuse the stored supernet, and leaves
    # the run's configuration as it was (later tools read it: pareto, bench baselines)
    config = (out / "config.toml").read_text()
    assert main([*argv, "--epochs-a", "3"]) != 0
    assert (out / "supernet" / "supernet.pt").stat().st_mtime == mtime
    assert (out / "config.toml").read_text() == config
    # the resolved configuration repeats the run: the same settings, the same network
    from budgetnas.cli.main import build_parser
    from budgetnas.cli.run import config_from_args
    from budgetnas.pipeline.config import load_run_config

    assert load_run_config(out) == config_from_args(build_parser().parse_args(argv))
    repeat = out.parent / "repeat"
    assert main(["run", "--config", str(out / "config.toml"), "--out", str(repeat)]) == 0
    assert (repeat / "arch.txt").read_text() == (out / "arch.txt").read_text()
    assert (repeat / "config.toml").read_text() == config
    # pareto reuses the run's predictor: one solver call per budget
    capsys.readouterr()
    assert main(["pareto", "--run", str(out), "--budgets", f"params_m={limit},{2 * limit}"]) == 0
    rows = json.loads((out / "pareto.json").read_text())
    assert [r["limit"] for r in rows] == [limit, 2 * limit]
    assert rows[0]["arch"] == result["arch"]  # same predictor, same budget, exact solver
    assert rows[1]["predicted_accuracy"] >= rows[0]["predicted_accuracy"]


def test_run_rejects_bad_budget(tmp_path, run_argv):
    from budgetnas.cli.main import main

    argv = run_argv(tmp_path / "r", "--budget", "params<=3")
    assert main(argv) != 0


def test_run_refuses_rerank_without_milp(tmp_path, run_argv):
    from budgetnas.cli.main import main
    from budgetnas.pipeline.run import Pipeline, RunConfig

    cfg = RunConfig.from_preset("tiny", budgets=["params_m<=1"], solver="hardcore", rerank=3)
    with pytest.raises(ValueError, match="needs the milp solver"):
        Pipeline(cfg, tmp_path / "r").run()
    with pytest.raises(ValueError, match="at least 1"):
        Pipeline(RunConfig.from_preset("tiny", budgets=["params_m<=1"], rerank=0), tmp_path).run()
    assert main(run_argv(tmp_path / "r2", "--budget", "params_m<=1", "--rerank", "0")) != 0


@pytest.mark.slow
def test_run_with_latency_budget_measures_on_the_table_backend(tmp_path, capsys, run_argv):
    from budgetnas.cli.main import main
    from budgetnas.costs.table import TABLE_KIND, CostTable
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.store import Store

    torch.set_num_threads(1)
    space = MobileNetSpace(preset="tiny")
    params = 0.8 * space.count_params(space.heaviest()) / 1e6
    out = tmp_path / "run"
    argv = run_argv(out, "--budget", "latency_ms<=1000", "--budget", f"params_m<={params}")
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    rows = {r["metric"]: r for r in result["budgets"]}
    lat = rows["latency_ms"]
    assert lat["measured"] is not None and 0 < lat["measured"] <= 1000 and lat["ok"]
    assert rows["params_m"]["measured"] is None and rows["params_m"]["ok"]
    # the predicted latency is the table's sum for the found architecture
    store = Store(out / "store.sqlite")
    tables = [k for k, _ in store.items(TABLE_KIND)]
    assert len(tables) == 1
    table = CostTable.from_store(store, tables[0])
    arch = space.from_string(result["arch"])
    assert lat["predicted"] == pytest.approx(table.cost_model(space).evaluate(arch))
    assert result["closed_loop"]["ok"] and len(result["closed_loop"]["rounds"]) == 1


@pytest.mark.slow
def test_run_reuses_a_trained_supernet(tiny_run, tmp_path, capsys, one_thread, run_argv):
    import filecmp

    from budgetnas.cli.main import main

    src = tiny_run.out / "supernet" / "supernet.pt"
    out = tmp_path / "reuse"
    argv = run_argv(
        out,
        "--budget",
        f"params_m<={tiny_run.limit}",
        "--supernet",
        str(src),
        "--oneshot-subnets",
        "4",
        "--oneshot-heldout",
        "48",
    )
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "reusing the supernet" in err and "training the supernet" not in err
    assert filecmp.cmp(src, out / "supernet" / "supernet.pt", shallow=False)
    result = json.loads((out / "result.json").read_text())
    assert result["budgets"][0]["ok"] and result["predictor"]["quality"]["n"] == 4
    # both forms are scored on the same subnets; the searched one (paths) is "quality"
    by_form = result["predictor"]["quality_by_form"]
    assert set(by_form) == {"binas", "paths"} and by_form["paths"] == result["predictor"]["quality"]
    assert result["predictor"]["paths_alpha"] in ALPHA_GRID  # chosen by cross-validation
    from budgetnas.pipeline.config import load_run_config
    from budgetnas.training.trained import TrainedSupernet

    cfg, _ = load_run_config(out)
    assert cfg.supernet == str(src) and cfg.train.preset == "tiny"
    assert cfg.train == TrainedSupernet.open(src).train  # the training it reuses, recorded
    # the report subnets were scored on their own 48 held-out images, the predictor on 32
    assert "predictor quality: 4/4 random subnets" in err
    # --jobs 2: two processes measure the predictor's evaluations into the store, same result
    out2 = tmp_path / "reuse-jobs"
    assert main([*argv[:-2], "--jobs", "2", "--out", str(out2)]) == 0
    assert "tasks on local, 2 worker(s)" in capsys.readouterr().err
    parallel = json.loads((out2 / "result.json").read_text())
    assert parallel["predictor"]["quality"] == result["predictor"]["quality"]
    assert parallel["predictor"]["measured_now"] == 0  # the fit found all 256 in the store
    assert parallel["arch"] == result["arch"]
    # the beyond-average averages searched instead, from the same stored evaluations
    out3 = tmp_path / "reuse-binas"
    assert main([*argv[:-2], "--predictor-form", "binas", "--out", str(out3)]) == 0
    binas = json.loads((out3 / "result.json").read_text())
    assert binas["predictor"]["form"] == "binas" and binas["budgets"][0]["ok"]
    assert binas["predictor"]["quality"] == by_form["binas"]
    # re-ranking: the predictor's 3 best networks, the one with the best one-shot accuracy kept
    out4 = tmp_path / "reuse-rerank"
    assert main([*argv[:-2], "--rerank", "3", "--out", str(out4)]) == 0
    reranked = json.loads((out4 / "result.json").read_text())
    record = reranked["closed_loop"]["rounds"][0]["rerank"]
    scores = [c["score"] for c in record["rerank"]]
    assert reranked["rerank"] == 3 and len(scores) == 3 and reranked["budgets"][0]["ok"]
    assert record["rerank"][0]["arch"] == result["arch"]  # the predictor's first pick
    assert reranked["arch"] == record["rerank"][int(np.argmax(scores))]["arch"]
    assert reranked["oneshot_heldout_acc"] is not None
    # a supernet that does not exist, or trained on other data, is refused with a clear message
    bad = [*argv[:-1], str(tmp_path / "other")]
    bad[bad.index("--supernet") + 1] = str(tmp_path / "missing.pt")
    assert main(bad) != 0
    assert "does not exist" in capsys.readouterr().err
    other = [*argv[:-1], str(tmp_path / "other2")]
    other[other.index("synthetic")] = "fashion-mnist"
    assert main(other) != 0
    assert "was trained on 'synthetic'" in capsys.readouterr().err


def test_run_on_an_image_folder_chooses_the_space_and_names_the_classes(
    tmp_path, monkeypatch, capsys, one_thread, run_argv
):
    """``--data folder:PATH`` end to end: a folder of 28x28 RGB images in 3 classes without a test
    split; the space preset follows the data; class names reach the summary and labels.json."""
    from budgetnas.cli.main import main
    from imagefolders import CLASSES, make_folder

    monkeypatch.setenv("BUDGETNAS_CACHE", str(tmp_path / "cache"))
    make_folder(tmp_path / "images", per_class=40)
    (tmp_path / "images" / "train" / "README.txt").write_text("not an image")
    out = tmp_path / "run"
    argv = run_argv(out, "--budget", "params_m<=0.5", "--space-preset", "auto")
    argv[argv.index("synthetic")] = f"folder:{tmp_path / 'images'}"
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "space preset 28px-rgb-3cls (chosen from the data: 28x28 RGB, 3 classes" in err
    assert "data: no test/ folder" in err  # the run says how it made the splits
    result = json.loads((out / "result.json").read_text())
    assert result["space_preset"] == "28px-rgb-3cls"
    assert result["dataset"]["classes"] == list(CLASSES)
    assert any("held out as the test split" in n for n in result["dataset"]["notes"])
    assert json.loads((out / "labels.json").read_text()) == list(CLASSES)
    summary = (out / "summary.md").read_text()
    assert "`t-shirt top`" in summary and "held out" in summary
    # the saved configuration names the preset chosen and the folder by its absolute path
    config = (out / "config.toml").read_text()
    assert 'preset = "28px-rgb-3cls"' in config
    assert f"folder:{(tmp_path / 'images').resolve()}" in config
