"""The pruning benchmark as a registered library function: settings in, rows out, JSON written."""

import json
from dataclasses import replace

import pytest
import torch

from budgetnas.bench.pruning import (
    PruningBenchConfig,
    PruningBenchResult,
    RemeasureConfig,
    remeasure,
    run,
)
from budgetnas.cli.main import main as cli_main


@pytest.fixture(autouse=True)
def restore_threads():
    """The benchmark sets torch to one thread; put the setting back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    argv = ["train-baseline", "--data", "synthetic", "--model", "resnet8", "--width", "8"]
    assert cli_main([*argv, "--epochs", "1", "--subset", "128", "--out", str(out)]) == 0
    return out / "resnet8_synthetic.pt"


def test_the_benchmark_is_registered_with_its_settings():
    from budgetnas.bench._base import BENCHMARKS

    bench = BENCHMARKS.create("pruning")
    assert bench.run is run and bench.config is PruningBenchConfig
    assert BENCHMARKS.create("pruning-remeasure").run is remeasure
    cfg = PruningBenchConfig()
    assert cfg.ratios == [0.5, 0.3] and cfg.variants == ["ours", "tp_magnitude"]
    assert (cfg.epochs, cfg.subset, cfg.eval_subset, cfg.gamma, cfg.recover) == (
        2,
        10000,
        2000,
        1.0,
        30,
    )
    assert cfg.args()["ratios"] == "0.5,0.3" and cfg.args()["variants"] == "ours,tp_magnitude"
    with pytest.raises(ValueError, match="needs --model and --json"):
        run(PruningBenchConfig())
    with pytest.raises(ValueError, match="unknown variant magic"):
        run(PruningBenchConfig(model="m.pt", json="j.json", variants=["ours", "magic"]))


def test_every_variant_meets_the_budget_and_the_json_holds_the_rows(parent, tmp_path):
    out = tmp_path / "bench.json"
    cfg = PruningBenchConfig(
        model=str(parent),
        data="synthetic",
        ratios=[0.5],
        epochs=1,
        subset=128,
        eval_subset=64,
        batch_size=32,
        variants=["ours", "tp_magnitude", "ours_prog"],
        steps=2,
        recover=1,
        json=str(out),
        save_dir=str(tmp_path / "nets"),
    )
    res = run(cfg)
    assert [r["method"] for r in res.rows] == ["parent", "ours", "tp_magnitude", "ours_prog"]
    for row in res.rows[1:]:
        assert row["flops_ratio"] <= 0.5 and 0 <= row["accuracy"] <= 1
        assert set(row) >= {"accuracy_before_finetune", "flops_m", "params_m", "latency_ms", "file"}
    saved = json.loads(out.read_text())
    assert saved == res.to_json() and PruningBenchResult.from_json(saved) == res
    assert saved["args"]["ratios"] == "0.5" and saved["args"]["json"] == str(out)
    assert list(saved["args"]) == list(PruningBenchConfig.__dataclass_fields__)
    assert (tmp_path / "nets" / "ours_prog_0.5_keep0.1_s2r1.pt").is_file()
    # the latency of the saved networks again, interleaved, written into the same JSON
    # (the saved networks are pickled modules: refused unless the files are trusted)
    cfg = RemeasureConfig(json=str(out), parent=str(parent), input="3,16,16")
    with pytest.raises(ValueError, match="--trust-file"):
        remeasure(cfg)
    lat = remeasure(replace(cfg, trust_file=True))
    assert set(lat) == {"parent"} | {r["file"] for r in res.rows[1:]}
    again = json.loads(out.read_text())["rows"]
    assert all(r["latency_ms_interleaved"] > 0 for r in again)
    # the same settings through the generated flags give the same rows
    argv = ["--model", str(parent), "--data", "synthetic", "--ratios", "0.5", "--epochs", "1"]
    argv += ["--subset", "128", "--eval-subset", "64", "--batch-size", "32"]
    argv += ["--variants", "ours", "--json", str(tmp_path / "flags.json")]
    assert cli_main(["bench", "pruning", *argv]) == 0
    rows = json.loads((tmp_path / "flags.json").read_text())["rows"]
    keep = ("method", "ratio", "accuracy", "accuracy_before_finetune", "flops_m", "params_m")
    assert [{k: r.get(k) for k in keep} for r in rows] == [
        {k: r.get(k) for k in keep} for r in res.rows[:2]
    ]
