import json

import onnxruntime as ort
import pytest
import torch

from budgetnas.cli.main import main


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    argv = "train-baseline --data synthetic --model resnet8 --width 8 --epochs 1 --subset 128"
    assert main([*argv.split(), "--out", str(out)]) == 0
    return out / "resnet8_synthetic.pt"


def test_prune_end_to_end_with_one_epoch_of_distillation(baseline, tmp_path):
    rc = main(
        [
            "prune",
            "--model",
            str(baseline),
            "--budget",
            "flops_ratio<=0.5",
            "--data",
            "synthetic",
            "--epochs",
            "1",
            "--subset",
            "128",
            "--batches",
            "2",
            "--kl",
            "0.5",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["budget"]["feasible"] and res["budget"]["value"] <= 0.5
    before, after = res["counts"]["before"], res["counts"]["after"]
    assert after["flops_m"] <= 0.5 * before["flops_m"]
    assert after["flops_m"] == pytest.approx(after["flops_torch_m"])
    assert after["params_m"] < before["params_m"]
    assert set(res["accuracy"]) >= {"parent", "pruned_before_finetune", "pruned_after_finetune"}
    assert len(res["method"]["finetune_losses"]) == 1
    # the defaults: 4 progressive steps, calibrated scores; one batch of fine-tuning leaves no
    # recovery batches to take
    assert res["method"]["knapsack_steps"] == 4 and res["method"]["calibrate"] == 0.5
    assert res["method"]["recovery_batches"] == 0
    assert res["not_pruned"] == ["fc"]
    x = torch.randn(3, 3, 16, 16)
    net = torch.load(tmp_path / "pruned.pt", weights_only=False).eval()
    ts = torch.jit.load(str(tmp_path / "pruned.ts"))
    sess = ort.InferenceSession(str(tmp_path / "pruned.onnx"))
    ref = net(x).detach()
    assert ref.shape == (3, 4)
    assert torch.allclose(ts(x), ref, atol=1e-5)
    assert torch.allclose(torch.from_numpy(sess.run(None, {"input": x.numpy()})[0]), ref, atol=1e-4)


def test_params_budget_and_clear_errors(baseline, tmp_path, capsys):
    rc = main(
        [
            "prune",
            "--model",
            str(baseline),
            "--budget",
            "params_m<=0.02",
            "--data",
            "synthetic",
            "--epochs",
            "0",
            "--subset",
            "64",
            "--batches",
            "1",
            "--solver",
            "greedy",
            "--steps",
            "1",
            "--calibrate",
            "0",
            "--out",
            str(tmp_path / "p"),
        ]
    )
    assert rc == 0
    assert (
        json.loads((tmp_path / "p" / "result.json").read_text())["counts"]["after"]["params_m"]
        <= 0.02
    )
    for budget, message in (
        ("flops<=0.5", "no unit"),
        ("energy_mj<=1", "supports budgets on flops"),
    ):
        argv = ["prune", "--model", str(baseline), "--budget", budget, "--data", "synthetic"]
        assert main([*argv, "--out", str(tmp_path / "e")]) == 2
        assert message in capsys.readouterr().err
    # a TorchScript file is rebuilt as an eager module with its layers, checked, and pruned
    torch.jit.save(torch.jit.load(str(tmp_path / "p" / "pruned.ts")), str(tmp_path / "m.ts"))
    ts_args = ["prune", "--model", str(tmp_path / "m.ts"), "--budget", "flops_ratio<=0.6"]
    ts_args += ["--data", "synthetic", "--epochs", "0", "--subset", "64", "--batches", "1"]
    assert main([*ts_args, "--out", str(tmp_path / "t")]) == 0
    res = json.loads((tmp_path / "t" / "result.json").read_text())
    assert res["source"]["class"] == "torchscript"
    assert res["source"]["rebuilt_max_abs_diff"] < 1e-4
    assert res["budget"]["feasible"] and res["not_pruned"] == ["fc"]
    assert (tmp_path / "t" / "pruned.onnx").is_file()

    # one with data-dependent control flow cannot be rebuilt: said plainly
    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            if x.sum() > 0:
                return self.conv(x).mean((2, 3))
            return self.conv(x).amax((2, 3))

    torch.jit.save(torch.jit.script(Branchy()), str(tmp_path / "b.ts"))
    ts_args[2] = str(tmp_path / "b.ts")
    capsys.readouterr()
    assert main([*ts_args, "--out", str(tmp_path / "e")]) == 2
    assert "control flow" in capsys.readouterr().err


def test_progressive_prune_takes_recovery_from_the_fine_tuning_total(baseline, tmp_path, capsys):
    common = ["prune", "--model", str(baseline), "--budget", "flops_ratio<=0.4"]
    common += ["--data", "synthetic", "--subset", "128", "--batches", "2", "--epochs", "1"]
    # 128 images at batch 32: 4 fine-tuning batches; 2 x 3 recovery batches do not fit
    small = ["--batch-size", "32", "--steps", "3"]
    assert main(common + small + ["--recover", "3", "--out", str(tmp_path / "e")]) == 2
    assert "exceed" in capsys.readouterr().err
    assert main(common + small + ["--recover", "1", "--out", str(tmp_path / "p")]) == 0
    res = json.loads((tmp_path / "p" / "result.json").read_text())
    assert res["budget"]["feasible"] and res["counts"]["after"]["flops_m"] <= (
        0.4 * res["counts"]["before"]["flops_m"]
    )
    method = res["method"]
    assert method["knapsack_steps"] == 3 and method["recovery_batches"] == 2
    limits = method["step_limits"]
    assert len(limits) == 3 and limits[0] > limits[1] > limits[2]
    assert "pruning step 3/3" in capsys.readouterr().out
    # widths are reported against the parent's groups
    assert any(g["kept"] < g["channels"] for g in res["groups"])
    assert all(1 <= g["kept"] <= g["channels"] for g in res["groups"])


def test_config_toml_repeats_the_run(baseline, tmp_path):
    from budgetnas.config import from_dict, load_toml
    from budgetnas.pruning import PruneConfig, PruneResult

    argv = ["prune", "--model", str(baseline), "--budget", "flops_ratio<=0.6"]
    argv += ["--data", "synthetic", "--epochs", "1", "--subset", "64", "--batches", "1"]
    argv += ["--steps", "2", "--recover", "0", "--solver", "greedy", "--out", str(tmp_path / "a")]
    assert main(argv) == 0
    cfg = from_dict(PruneConfig, load_toml(tmp_path / "a" / "config.toml"))
    assert cfg.selection.steps == 2 and cfg.selection.solver == "greedy"
    assert cfg.dataset.subset == 64 and cfg.out == str(tmp_path / "a")
    again = ["prune", "--config", str(tmp_path / "a" / "config.toml"), "--out", str(tmp_path / "b")]
    assert main(again) == 0
    a, b = (
        PruneResult.from_json(json.loads((tmp_path / d / "result.json").read_text())) for d in "ab"
    )
    for res in (a, b):
        res.timings, res.latency = {}, {}
    assert a == b  # the same numbers again
    wa = torch.load(tmp_path / "a" / "pruned.pt", weights_only=False).state_dict()
    wb = torch.load(tmp_path / "b" / "pruned.pt", weights_only=False).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert from_dict(PruneConfig, load_toml(tmp_path / "b" / "config.toml")) == (
        from_dict(
            PruneConfig, {**load_toml(tmp_path / "a" / "config.toml"), "out": str(tmp_path / "b")}
        )
    )
