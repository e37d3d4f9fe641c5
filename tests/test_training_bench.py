"""The supernet benchmarks run end to end on the tiny preset and report what they measure."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from budgetnas.bench.supernet import overhead, ranking, tau_interval
from budgetnas.store import Store
from budgetnas.training import SupernetTrainer
from conftest import tiny_train_config


@pytest.fixture(autouse=True)
def restore_threads():
    """The benchmarks set torch to one thread; put the setting back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_overhead_reports_ratio_per_path():
    res = overhead("tiny", paths=2, batch_size=8, steps=1)
    assert len(res["paths"]) == 2 and res["median_ratio"] > 0
    for row in res["paths"]:
        assert row["ratio"] == pytest.approx(row["supernet_s"] / row["standalone_s"])


def test_ranking_is_resumable(tmp_path):
    cfg = tiny_train_config(epochs_b=0)
    SupernetTrainer(replace(cfg), tmp_path, progress=False).run()
    store = tmp_path / "r.sqlite"
    res = ranking(str(tmp_path / "supernet.pt"), archs=3, finetune_steps=1, store=str(store))
    assert len(res["rows"]) == 3 and -1.0 <= res["kendall_tau"] <= 1.0
    assert len(list(Store(store).items("supernet-ranking"))) == 3
    again = ranking(str(tmp_path / "supernet.pt"), archs=3, finetune_steps=1, store=str(store))
    assert again["rows"] == res["rows"]  # read back, not recomputed
    # the command: the same benchmark, its result printed and written as JSON
    from budgetnas.cli.main import main

    out = tmp_path / "ranking.json"
    argv = ["bench", "supernet", "ranking", "--supernet", str(tmp_path / "supernet.pt")]
    argv += ["--archs", "3", "--finetune-steps", "1", "--store", str(store), "--json", str(out)]
    assert main(argv) == 0
    assert json.loads(out.read_text())["rows"] == res["rows"]
    assert res["schedule"] == "cosine"
    # the constant-rate fine-tuning is another measurement, stored beside the cosine one
    const = ranking(
        str(tmp_path / "supernet.pt"),
        archs=3,
        finetune_steps=2,
        store=str(store),
        schedule="constant",
    )
    assert const["schedule"] == "constant"
    assert len(list(Store(store).items("supernet-ranking"))) == 6
    with pytest.raises(ValueError, match="schedule"):
        ranking(str(tmp_path / "supernet.pt"), archs=1, store=str(store), schedule="step")


def test_tau_interval_covers_the_estimate_and_narrows_with_more_pairs():
    import numpy as np
    from scipy.stats import kendalltau

    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    wide = tau_interval(x[:10], y[:10])
    narrow = tau_interval(x, y)
    assert wide[0] <= kendalltau(x[:10], y[:10]).statistic <= wide[1]
    assert narrow[0] <= kendalltau(x, y).statistic <= narrow[1]
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 2
    assert tau_interval(x[:10], y[:10], seed=0) == wide  # reproducible
    assert np.isnan(tau_interval([1, 1, 1], [2, 2, 2])).all()
    with pytest.raises(ValueError, match="3 pairs"):
        tau_interval([1, 2], [1, 2])


def test_ranking_archs_spread_over_macs():
    import numpy as np

    from budgetnas.bench.supernet import ranking_archs
    from budgetnas.spaces.mobilenet import MobileNetSpace

    space = MobileNetSpace(preset="tiny")
    uniform = ranking_archs(space, 10, np.random.default_rng(1))
    again = [space.sample(np.random.default_rng(1)) for _ in range(1)]
    assert uniform[0] == again[0]  # the protocol: plain uniform samples, as before
    spread = ranking_archs(space, 10, np.random.default_rng(1), "macs-spread")
    macs = [space.count_macs(a) for a in spread]
    assert macs == sorted(macs) and len(set(spread)) == 10
    pool = [space.count_macs(space.sample(np.random.default_rng(s))) for s in range(500)]
    # from the bottom to the top decile of the space's sizes
    assert macs[0] < np.quantile(pool, 0.15) and macs[-1] > np.quantile(pool, 0.85)
    with pytest.raises(ValueError, match="unknown sample"):
        ranking("unused.pt", sample="sorted")


def test_recal_noise_scores_each_subnet_after_two_disjoint_recalibrations(tiny_run, one_thread):
    from budgetnas.bench.supernet import recal_noise
    from budgetnas.pipeline.run import open_run
    from budgetnas.predictors.quality import random_subnets
    from budgetnas.training.evaluate import one_shot_accuracy

    res = recal_noise(str(tiny_run.out), subnets=4, heldout=32, bn=(1,))
    got = res["bn"]["1"]
    assert res["heldout"] == 32 and np.asarray(got["scores"]).shape == (2, 4)
    assert got["images"] == 32  # one batch of the tiny preset's 32 images
    # by hand: the first report subnet after recalibrating on batch 0, then on batch 1 alone
    pipe = open_run(tiny_run.out, log=lambda msg: None)
    ev = pipe.trained.evaluator(32, 500)
    arch = random_subnets(pipe.space, 4, seed=1)[0]
    for k in (0, 1):
        acc = one_shot_accuracy(pipe.supernet, arch, ev.recal_batches[k:], ev.eval_batches, 1)
        assert got["scores"][k][0] == pytest.approx(acc)
    with pytest.raises(ValueError, match="needs 4 recalibration batches"):
        recal_noise(str(tiny_run.out), subnets=2, heldout=32, bn=(2,))


def test_recal_noise_command(tiny_run, one_thread, tmp_path, capsys):
    from budgetnas.bench.supernet import recal_noise
    from budgetnas.cli.main import main

    out = tmp_path / "noise.json"
    argv = ["bench", "supernet", "recal-noise", "--run", str(tiny_run.out), "--subnets", "2"]
    assert main([*argv, "--heldout", "32", "--bn", "1", "--json", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed == recal_noise(str(tiny_run.out), subnets=2, heldout=32, bn=(1,))
    assert main(["bench", "supernet", "recal-noise", "--subnets", "2"]) == 2
    assert "required: --run" in capsys.readouterr().err


def test_supernet_benchmarks_run_as_a_module():
    import subprocess
    import sys

    argv = ["overhead", "--preset", "tiny", "--paths", "1", "--batch-size", "4", "--steps", "1"]
    out = subprocess.run(
        [sys.executable, "-m", "budgetnas.bench.supernet", *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout)
    assert res["preset"] == "tiny" and len(res["paths"]) == 1 and res["batch_size"] == 4


def test_throughput_measures_both_variants_and_stages(tmp_path, capsys):
    from budgetnas.bench.throughput import STAGES, VARIANTS, ThroughputConfig, throughput
    from budgetnas.cli.main import main

    cfg = ThroughputConfig(
        preset="tiny", data="synthetic", batch_size=16, steps=2, rounds=1, warmup=1, threads=1
    )
    before = torch.get_num_threads()
    res = throughput(cfg)
    assert torch.get_num_threads() == before  # the thread setting is put back
    assert res["threads"] == {"before": 1, "after": 1}
    assert res["machine"]["cpu_count"] >= 1 and res["machine"]["cpu_model"]
    for name in VARIANTS:
        for stage in STAGES:
            got = res[name][stage]
            assert len(got["rounds"]) == 1 and got["rounds"][0] > 0
            assert got["min"] == got["median"] == got["max"] == got["rounds"][0]
    for stage in STAGES:
        ratio = res["after"][stage]["median"] / res["before"][stage]["median"]
        assert res["ratio"][stage] == pytest.approx(ratio)
    # the command: two rounds (before, after; after, before), printed and written as JSON
    out = tmp_path / "throughput.json"
    argv = ["bench", "supernet", "throughput", "--data", "synthetic", "--preset", "tiny"]
    argv += ["--batch-size", "8", "--steps", "1", "--rounds", "2", "--warmup", "0"]
    assert main([*argv, "--n-random", "1", "--threads", "1", "--json", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["rounds"] == 2 and printed["batch_size"] == 8 and printed["n_random"] == 1
    for name in VARIANTS:
        got = printed[name]["stage_b"]
        assert len(got["rounds"]) == 2 and got["min"] <= got["median"] <= got["max"]
    with pytest.raises(ValueError, match="steps"):
        throughput(ThroughputConfig(preset="tiny", data="synthetic", steps=0))
