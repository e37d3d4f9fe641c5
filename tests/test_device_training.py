"""Training and evaluation on a device and precision: bf16 autocast on the CPU, fp16 refused there,
checkpoints that open on the CPU in fp32 whatever they were trained in, and the --device and
--precision flags of every command that trains or evaluates, recorded in what it saves."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from budgetnas.cli.main import main
from conftest import tiny_train_config


@pytest.fixture(scope="module")
def bf16_training(tmp_path_factory):
    """A tiny supernet trained with bf16 autocast on the CPU, channels-last."""
    from budgetnas.training import SupernetTrainer

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bf16")
    cfg = tiny_train_config(device="cpu", precision="bf16", subset=32, eval_subset=16)
    try:
        trainer = SupernetTrainer(cfg, out, progress=False)
        result = trainer.run()
    finally:
        torch.set_num_threads(before)
    return trainer, result, out


def test_bf16_training_on_the_cpu_runs_with_finite_losses(bf16_training):
    trainer, result, out = bf16_training
    assert trainer.runtime.dtype is torch.bfloat16 and trainer.scaler is None
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert 0.0 <= result["test_acc_heaviest"] <= 1.0
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["device"] == "cpu" and saved["train"]["precision"] == "bf16"
    assert saved["runtime"] == {"device": "cpu", "precision": "bf16"}


def test_a_bf16_channels_last_checkpoint_opens_on_the_cpu_in_fp32(bf16_training, one_thread):
    from budgetnas.training.speed import channels_last_is_safe
    from budgetnas.training.supernet import load_supernet, read_checkpoint

    trainer, _, out = bf16_training
    ckpt = read_checkpoint(out / "supernet.pt")
    tensors = [t for t in ckpt["model"].values() if isinstance(t, torch.Tensor)]
    assert all(t.device.type == "cpu" and t.is_contiguous() for t in tensors)
    assert all(t.dtype is torch.float32 for t in tensors if t.is_floating_point())
    net, _ = load_supernet(out / "supernet.pt")
    arch = trainer.space.heaviest()
    net.eval().set_active(arch)
    trained = trainer.model.eval()
    trained.set_active(arch)
    conv = next(m for m in trained.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last_is_safe()
    c = trainer.space.config
    x = torch.randn(3, c.in_channels, c.image_size, c.image_size)
    with torch.no_grad():
        assert torch.allclose(net(x), trained(x), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible here)")
def test_a_checkpoint_saved_from_cuda_loads_on_the_cpu(tmp_path):
    from budgetnas.training import SupernetTrainer
    from budgetnas.training.supernet import load_supernet

    cfg = tiny_train_config(device="cuda", precision="auto", subset=32, eval_subset=16)
    trainer = SupernetTrainer(cfg, tmp_path, progress=False)
    trainer.run()
    net, _ = load_supernet(tmp_path / "supernet.pt")
    assert next(net.parameters()).device.type == "cpu"
    arch = trainer.space.heaviest()
    net.eval().set_active(arch)
    trainer.model.eval().set_active(arch)
    c = trainer.space.config
    x = torch.randn(3, c.in_channels, c.image_size, c.image_size)
    with torch.no_grad():
        assert torch.allclose(net(x), trainer.model(x.cuda()).cpu(), atol=1e-4)


def test_fp16_training_on_the_cpu_is_refused_before_it_starts(tmp_path):
    from budgetnas.training import SupernetTrainer

    with pytest.raises(ValueError, match="'fp16' is for CUDA GPUs"):
        SupernetTrainer(tiny_train_config(device="cpu", precision="fp16"), tmp_path)
    assert main(["train", "--data", "synthetic", "--preset", "tiny", "--device", "cpu",
                 "--precision", "fp16", "--out", str(tmp_path / "t")]) == 2  # fmt: skip
    assert not (tmp_path / "t" / "supernet.pt").exists()


def test_a_training_continues_on_another_device_setting(tmp_path, one_thread):
    from budgetnas.training import SupernetTrainer

    cfg = tiny_train_config(device="cpu", subset=32, eval_subset=16)
    assert SupernetTrainer(cfg, tmp_path, progress=False).run(stop_after=1)["stopped"]
    resumed = tiny_train_config(device="auto", subset=32, eval_subset=16)
    result = SupernetTrainer(resumed, tmp_path, progress=False).run(resume=True)
    assert result["epochs"] == 2
    other = tiny_train_config(device="auto", precision="bf16", subset=32, eval_subset=16)
    with pytest.raises(ValueError, match=r"settings differ.*precision"):
        SupernetTrainer(other, tmp_path, progress=False).run(resume=True)


def test_train_resumes_on_another_device_but_not_in_another_precision(tmp_path, one_thread):
    from budgetnas.training import SupernetTrainer

    cfg = tiny_train_config(device="cpu", subset=16, eval_subset=16, max_steps=1, threads=1)
    assert SupernetTrainer(cfg, tmp_path, progress=False).run(stop_after=1)["stopped"]
    argv = ["train", "--resume", "--no-progress", "--out", str(tmp_path)]
    assert main([*argv, "--precision", "bf16"]) == 2  # that would be another training
    assert main([*argv, "--device", "auto"]) == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["device"] == "auto"
    log = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(r).get("stage") for r in log[:2]] == ["A", "B"]


# ---- the flags of every command ------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_train_takes_device_and_precision(tmp_path, device, one_thread):
    argv = ["train", "--data", "synthetic", "--preset", "tiny", "--epochs-a", "1", "--epochs-b"]
    argv += ["0", "--batch-size", "16", "--max-steps", "1", "--subset", "16", "--eval-subset"]
    argv += ["16", "--bn-batches", "1", "--threads", "1", "--no-progress"]
    argv += ["--device", device, "--precision", "fp32", "--out", str(tmp_path)]
    assert main(argv) == 0
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["device"] == device and saved["train"]["precision"] == "fp32"
    assert saved["runtime"] == {"device": "cpu", "precision": "fp32"}


def test_eval_takes_device_and_precision(bf16_training, capsys, one_thread):
    _, _, out = bf16_training
    argv = ["eval", "--supernet", str(out), "--arch", "smallest", "--subset", "16", "--json"]
    assert main([*argv, "--device", "cpu", "--precision", "fp32", "--threads", "1"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["device"] == "cpu" and rec["precision"] == "fp32" and rec["images"] == 16
    assert main([*argv, "--device", "auto", "--precision", "bf16", "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "bf16"
    assert main([*argv, "--device", "cuda:7", "--threads", "1"]) == 2 or torch.cuda.is_available()


def test_predictor_fit_takes_device_and_precision(bf16_training, tmp_path, one_thread):
    from budgetnas.config import load_toml

    _, _, out = bf16_training
    argv = ["predictor", "fit", "--supernet", str(out), "--out", str(tmp_path), "--heldout", "16"]
    argv += ["--batch-size", "16", "--subnets", "0", "--device", "cpu", "--precision", "fp32"]
    assert main(argv) == 0
    saved = load_toml(tmp_path / "predictor_config.toml")
    assert saved["device"] == "cpu" and saved["precision"] == "fp32"
    assert (tmp_path / "predictor.json").is_file()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    argv = ["train-baseline", "--data", "synthetic", "--model", "resnet8", "--width", "4"]
    argv += ["--epochs", "1", "--subset", "32", "--eval-subset", "16", "--threads", "1"]
    assert main([*argv, "--device", "cpu", "--precision", "bf16", "--out", str(out)]) == 0
    return out


def test_train_baseline_takes_device_and_precision(baseline):
    from budgetnas.config import load_toml

    saved = load_toml(baseline / "config.toml")
    assert saved["device"] == "cpu" and saved["precision"] == "bf16"
    result = json.loads((baseline / "baseline.json").read_text())
    assert all(math.isfinite(v) for v in result["losses"])
    ckpt = torch.load(baseline / "resnet8_synthetic.pt", weights_only=True)
    floats = [t for t in ckpt["state_dict"].values() if t.is_floating_point()]
    assert all(t.device.type == "cpu" and t.dtype is torch.float32 for t in floats)


def test_prune_takes_device_and_precision(baseline, tmp_path, one_thread):
    from budgetnas.config import load_toml

    argv = ["prune", "--model", str(baseline / "resnet8_synthetic.pt"), "--budget"]
    argv += ["flops_ratio<=0.6", "--data", "synthetic", "--epochs", "1", "--subset", "32"]
    argv += ["--eval-subset", "16", "--steps", "1", "--batches", "2", "--batch-size", "16"]
    argv += ["--device", "auto", "--precision", "fp32", "--out", str(tmp_path)]
    assert main(argv) == 0
    saved = load_toml(tmp_path / "config.toml")
    assert saved["device"] == "auto" and saved["precision"] == "fp32"


def test_run_has_one_device_flag_for_every_stage(capsys):
    from budgetnas.cli.main import build_parser
    from budgetnas.cli.run import config_from_args

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--device", "--precision"):  # one option of that name, described once
        assert len(re.findall(rf"^\s+{flag} ", help_text, flags=re.M)) == 1, flag
    args = build_parser().parse_args(
        ["run", "--out", "x", "--preset", "tiny", "--budget", "params_m<=1", "--device", "cpu",
         "--precision", "bf16"]
    )  # fmt: skip
    cfg, _ = config_from_args(args)
    assert (cfg.train.device, cfg.train.precision) == ("cpu", "bf16")
    args = build_parser().parse_args(["run", "--out", "x", "--budget", "a", "--device", "auto"])
    assert config_from_args(args)[0].train.device == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--out", "x", "--precision", "fp8"])


def test_benchmarks_take_device_and_precision(capsys, one_thread):
    from budgetnas.bench.baselines import BaselineConfig
    from budgetnas.bench.pruning import PruningBenchConfig
    from budgetnas.bench.supernet import RankingConfig, RecalNoiseConfig

    argv = ["bench", "supernet", "throughput", "--data", "synthetic", "--preset", "tiny"]
    argv += ["--batch-size", "8", "--steps", "1", "--rounds", "1", "--warmup", "0"]
    argv += ["--n-random", "1", "--threads", "1", "--device", "cpu", "--precision", "bf16"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["runtime"] == {"before": "cpu fp32", "after": "cpu bf16"}
    for config in (BaselineConfig, PruningBenchConfig, RankingConfig, RecalNoiseConfig):
        assert list(config.__dataclass_fields__)[-2:] == ["device", "precision"], config


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "supernet", "ranking", "--supernet", "sn.pt"],
        ["bench", "supernet", "recal-noise", "--run", "r"],
        ["bench", "supernet", "throughput"],
        ["bench", "baselines", "--run", "r"],
        ["bench", "pruning", "--model", "m.pt", "--json", "p.json"],
    ],
)
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_every_benchmark_that_trains_or_evaluates_takes_the_flags(command, device):
    from budgetnas.cli.main import build_parser
    from budgetnas.config import config_from_args

    args = build_parser().parse_args([*command, "--device", device, "--precision", "fp32"])
    bench = args.func.args[0]
    cfg = config_from_args(bench.config, args)
    assert (cfg.device, cfg.precision) == (device, "fp32")
