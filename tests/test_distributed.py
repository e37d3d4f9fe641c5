"""Data-parallel training with 2 gloo processes on the CPU: exact against one process on a
network without batch norm, end to end under torchrun, and resumed with another world size."""

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch
from torch import nn

from budgetnas.distributed import Sharded, World


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _net_and_loader():
    from budgetnas.data import get_dataset, make_loader

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4)
    )
    data = get_dataset("synthetic", "train", augment=True, subset=64, seed=0)
    return net, make_loader(data, 16, shuffle=True, seed=0)  # 4 global batches of 16


def _train(world: World):
    from budgetnas.models.train import train_classifier

    net, loader = _net_and_loader()
    train_classifier(world.wrap(net, "cpu"), Sharded(loader, world), 2, lr=0.2)
    return net


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    world = World.from_env()
    world.start("cpu")
    net = _train(world)
    if world.main:
        torch.save(net.state_dict(), out)
    world.stop()


def test_two_gloo_processes_train_as_one_on_the_global_batch(tmp_path, one_thread):
    # each rank takes 8 of the global batch's 16 images; DDP averages the two gradients, which
    # is the gradient of the mean loss over all 16: the same steps as one process
    out = str(tmp_path / "two.pt")
    torch.multiprocessing.spawn(_rank, args=(_free_port(), out), nprocs=2)
    two = torch.load(out, weights_only=True)
    one = _train(World()).state_dict()
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-6), k
    assert not torch.equal(one["4.weight"], _net_and_loader()[0].state_dict()["4.weight"])


def test_world_reads_torchrun_and_shards_rows(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert World.from_env() == World() and not World().distributed and World().main
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    w = World.from_env()
    assert w == World(2, 3, 0) and w.distributed and not w.main
    x, y = w.shard(torch.arange(10), torch.arange(10) * 2)
    assert x.tolist() == [2, 5, 8] and y.tolist() == [4, 10, 16]
    assert w.device("cpu") == "cpu" and World().device("auto") == "auto"


def _torchrun(*args, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc-per-node", str(nproc), "-m", "budgetnas", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


ARGS = ["train-baseline", "--data", "synthetic", "--model", "resnet8", "--width", "4"]
ARGS += ["--epochs", "2", "--subset", "64", "--eval-subset", "32", "--batch-size", "16"]


def _weights(out):
    return torch.load(out / "resnet8_synthetic.pt", weights_only=True)["state_dict"]


def test_train_baseline_under_torchrun(tmp_path, capsys, one_thread):
    from budgetnas.cli.main import main

    got = _torchrun(*ARGS, "--out", str(tmp_path / "two"))
    assert got.returncode == 0, got.stderr[-3000:]
    assert got.stdout.count("test accuracy") == 1  # rank 0 alone reports
    saved = json.loads((tmp_path / "two" / "baseline.json").read_text())
    assert len(saved["losses"]) == 2 and all(math.isfinite(v) for v in saved["losses"])
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    # the stated tolerance: batch norm uses each rank's own statistics (8 images, not 16), so
    # the weights drift apart a little; everything else is the same computation
    keys = [k for k in one if one[k].is_floating_point() and "running" not in k]
    diff = math.sqrt(sum(float((one[k] - two[k]).norm() ** 2) for k in keys))
    norm = math.sqrt(sum(float(one[k].norm() ** 2) for k in keys))
    assert diff / norm < 0.1


def test_a_run_resumes_with_another_number_of_processes(tmp_path, monkeypatch, capsys):
    import budgetnas.models.train as train_mod
    from budgetnas.cli.main import main

    out = tmp_path / "r"
    original = train_mod.train_classifier

    def stop_after_one(*args, on_epoch_end=None, **kwargs):
        def hook(state):
            on_epoch_end(state)
            if state["epoch"] == 1:
                raise KeyboardInterrupt  # stopped after epoch 1 of 2, its state saved

        return original(*args, on_epoch_end=hook, **kwargs)

    monkeypatch.setattr(train_mod, "train_classifier", stop_after_one)
    assert main([*ARGS, "--out", str(out)]) == 130
    first = torch.load(out / "train_state.pt", weights_only=False)["fit"]["losses"]
    got = _torchrun(*ARGS, "--out", str(out), "--resume")
    assert got.returncode == 0, got.stderr[-3000:]
    assert "resuming after epoch 1 of 2" in got.stdout
    saved = json.loads((out / "baseline.json").read_text())
    assert saved["losses"][0] == first[0] and len(saved["losses"]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible here)")
def test_nccl_world_of_one_on_the_gpu(tmp_path):
    got = _torchrun(*ARGS, "--device", "cuda", "--out", str(tmp_path / "g"), nproc=1)
    assert got.returncode == 0, got.stderr[-3000:]
