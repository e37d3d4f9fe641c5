import json

import pytest
import torch

from budgetnas.cli.main import main
from budgetnas.config import resolve
from budgetnas.models.baseline import BaselineTrainConfig, BaselineTrainResult, train_baseline

SETTINGS = {
    "data": "synthetic",
    "model": "resnet8",
    "width": 4,
    "epochs": 1,
    "subset": 32,
    "eval_subset": 24,
    "batch_size": 16,
    "seed": 2,
}


def test_library_call_writes_what_it_returns(tmp_path):
    cfg = resolve(BaselineTrainConfig, SETTINGS, {"out": str(tmp_path)})
    logged = []
    result = train_baseline(cfg, log=logged.append, progress=False)
    assert logged == [f"epoch 1/1: loss {result.losses[0]:.4f}"]
    saved = json.loads((tmp_path / "baseline.json").read_text())
    assert saved == result.to_json()
    assert BaselineTrainResult.from_json(saved) == result
    assert list(saved) == [
        "checkpoint", "model", "kwargs", "data", "epochs", "subset", "test_accuracy",
        "test_images", "seed", "train_seconds", "losses",
    ]  # fmt: skip
    ckpt = torch.load(tmp_path / "resnet8_synthetic.pt", weights_only=False)
    assert ckpt["meta"] == result.meta() and ckpt["kwargs"] == result.kwargs
    assert result.kwargs == {"in_channels": 3, "num_classes": 4, "width": 4}
    assert result.test_images == 24 and result.checkpoint == str(tmp_path / "resnet8_synthetic.pt")


def test_config_file_repeats_the_run(tmp_path, capsys):
    argv = ["train-baseline", "--out", str(tmp_path / "a")]
    for name, value in SETTINGS.items():
        argv += ["--" + name.replace("_", "-"), str(value)]
    assert main(argv) == 0
    first = capsys.readouterr().out.splitlines()[-1]
    assert first.startswith("test accuracy ") and first.endswith("resnet8_synthetic.pt")
    again = ["train-baseline", "--config", str(tmp_path / "a" / "config.toml")]
    assert main([*again, "--out", str(tmp_path / "b")]) == 0
    a, b = (torch.load(tmp_path / d / "resnet8_synthetic.pt", weights_only=False) for d in "ab")
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert a["meta"]["losses"] == b["meta"]["losses"]


def test_out_is_required():
    with pytest.raises(ValueError, match="--out"):
        train_baseline(BaselineTrainConfig())


def test_training_is_repeatable_where_onednn_is_capped_at_avx2(tmp_path):
    # an AVX2-only host (as some CI machines are): with channels-last, torch 2.13's oneDNN
    # computed a wrong weight gradient for ResNet-8's strided 1x1 shortcut, different on every
    # call, and corrupted the heap; fast_layout keeps such hosts contiguous
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from budgetnas.config import resolve\n"
        "from budgetnas.models.baseline import BaselineTrainConfig, train_baseline\n"
        f"settings = {SETTINGS!r}\n"
        "losses = []\n"
        "for run in 'ab':\n"
        "    cfg = resolve(BaselineTrainConfig, settings, {'out': sys.argv[1] + run})\n"
        "    losses.append(train_baseline(cfg, log=lambda s: None, progress=False).losses)\n"
        "print(json.dumps(losses))\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    args = {"env": env, "capture_output": True, "text": True, "timeout": 120}
    runs = [
        subprocess.run([sys.executable, "-c", script, str(tmp_path / str(i))], **args)
        for i in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (a, b), (c, d) = (json.loads(r.stdout.splitlines()[-1]) for r in runs)
    assert a == b == c == d
