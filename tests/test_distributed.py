"""Data-parallel training with 2 gloo processes on the CPU, of a baseline (DDP) and of the
supernet (the step functions' explicit gradient averaging, paths that leave parameters unused
included): exact against one process on a network without batch norm, end to end under
torchrun (``train-baseline``, ``train``, ``run``), and resumed with another world size."""

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from budgetnas.distributed import Sharded, World
from budgetnas.training.supernet import stage_a_step, stage_b_step


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


def _join_two(rank: int, port: int) -> World:
    """This spawned process as rank ``rank`` of 2 on gloo, one thread."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )  # fmt: skip
    torch.set_num_threads(1)
    world = World.from_env()
    world.start("cpu")
    return world


def _rank(rank: int, port: int, out: str) -> None:
    world = _join_two(rank, port)
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
    # the supernet's gradient averaging and broadcasts on NCCL, a world of one
    args = [*TRAIN, "--epochs", "1", "--device", "cuda", "--out", str(tmp_path / "s")]
    got = _torchrun(*args, nproc=1)
    assert got.returncode == 0, got.stderr[-3000:]
    assert json.loads(got.stdout)["epochs"] == 2


class TwoBranches(nn.Module):
    """A supernet in miniature without batch norm: path ``"a"``, ``"b"`` or ``"ab"`` chooses
    which branches run, so a path leaves the other branch's parameters without gradients."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3)
        self.a, self.b, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
        self.active = "ab"

    def set_active(self, arch) -> None:
        self.active = arch

    def forward(self, x, return_stages=False):
        h = F.adaptive_avg_pool2d(F.relu(self.stem(x)), 1).flatten(1)
        if "a" in self.active:
            h = torch.tanh(self.a(h))
        if "b" in self.active:
            h = torch.tanh(self.b(h))
        out = self.head(h)
        return (out, [h]) if return_stages else out


#: the paths of each stage-B step: "b" unused in the first step, "a" in the third
PATHS = [["a"], ["ab", "b"], ["b"], ["a", "ab"]]


def _train_paths(world: World) -> dict:
    from budgetnas.data import get_dataset, make_loader

    model = TwoBranches()
    teacher = TwoBranches().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=1e-3)
    data = get_dataset("synthetic", "train", augment=True, subset=64, seed=0)
    loader = Sharded(make_loader(data, 16, shuffle=True, seed=0), world)  # 4 global batches

    def sync():
        world.average_gradients(model.parameters())

    for epoch in range(2):
        for i, (x, y) in enumerate(loader):
            if epoch == 0:
                model.set_active("ab")
                stage_a_step(model, opt, x, y, sync=sync)
            else:
                stage_b_step(model, teacher, opt, x, y, PATHS[i], gamma=1.0, sync=sync)
    return model.state_dict()


def _rank_paths(rank: int, port: int, out: str) -> None:
    world = _join_two(rank, port)
    state = _train_paths(world)
    world.stop()
    if world.main:
        torch.save(state, out)


def test_two_processes_average_the_gradients_of_the_same_paths_exactly(tmp_path, one_thread):
    # every rank trains the same paths on its 8 of the global batch's 16 images; one all-reduce
    # per step averages the gradients, also of steps whose paths leave a branch unused (no
    # gradient on any rank): the same steps as one process on all 16
    out = str(tmp_path / "two.pt")
    torch.multiprocessing.spawn(_rank_paths, args=(_free_port(), out), nprocs=2)
    two = torch.load(out, weights_only=True)
    one = _train_paths(World())
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-6), k
    start = TwoBranches().state_dict()
    assert all(not torch.equal(one[k], start[k]) for k in one)  # every branch trained


def test_world_helpers_in_one_process():
    world = World()
    assert world.sum(1.5, 2) == [1.5, 2.0] and world.broadcast_object({"a": 1}) == {"a": 1}
    net = nn.Linear(2, 2)
    net.weight.grad = torch.ones(2, 2)
    world.average_gradients(net.parameters())  # nothing to average with
    assert torch.equal(net.weight.grad, torch.ones(2, 2))


TRAIN = ["train", "--data", "synthetic", "--preset", "tiny", "--batch-size", "16"]
TRAIN += ["--max-steps", "3", "--bn-batches", "1", "--eval-subset", "16", "--no-progress"]


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _relative_distance(a: dict, b: dict) -> float:
    keys = [k for k in a if a[k].is_floating_point() and "running" not in k]
    diff = math.sqrt(sum(float((a[k] - b[k]).norm() ** 2) for k in keys))
    return diff / math.sqrt(sum(float(a[k].norm() ** 2) for k in keys))


def test_supernet_training_under_torchrun_matches_one_process(tmp_path, capsys, one_thread):
    from budgetnas.cli.main import main

    args = [*TRAIN, "--epochs-a", "1", "--epochs-b", "0"]
    got = _torchrun(*args, "--out", str(tmp_path / "two"))
    assert got.returncode == 0, got.stderr[-3000:]
    assert len(got.stdout.strip().splitlines()) == 1  # rank 0 alone reports
    assert json.loads(got.stdout)["epochs"] == 1
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    one_log, two_log = _log(tmp_path / "one"), _log(tmp_path / "two")
    assert two_log[0]["images"] == one_log[0]["images"] == 48  # the global batches, counted once
    assert len(two_log) == len(one_log) == 2  # one epoch record and the final, from rank 0 only
    assert abs(two_log[0]["loss"] - one_log[0]["loss"]) < 0.05 * one_log[0]["loss"]
    one = torch.load(tmp_path / "one" / "supernet.pt", weights_only=False)["model"]
    two = torch.load(tmp_path / "two" / "supernet.pt", weights_only=False)["model"]
    # the stated tolerance: batch norm normalizes by each rank's 8 images, not all 16
    assert _relative_distance(one, two) < 0.1


def test_supernet_training_resumes_with_another_number_of_processes(tmp_path, one_thread):
    from budgetnas.training.config import TrainConfig
    from budgetnas.training.supernet import SupernetTrainer

    out = tmp_path / "r"
    cfg = TrainConfig(
        data="synthetic", preset="tiny", epochs_a=1, epochs_b=1, batch_size=16, max_steps=3,
        bn_batches=1, eval_subset=16,
    )  # fmt: skip
    first = SupernetTrainer(cfg, out, progress=False).run(stop_after=1)  # stage A, one process
    assert first == {"stopped": True, "stage": "B", "epoch": 0}
    stage_a = _log(out)
    got = _torchrun("train", "--out", str(out), "--resume", "--no-progress")
    assert got.returncode == 0, got.stderr[-3000:]
    log = _log(out)
    assert log[0] == stage_a[0]  # the first process's epoch, kept
    assert [r.get("stage") for r in log] == ["A", "B", None] and log[-1]["event"] == "final"
    assert log[1]["images"] == 48 and log[1]["paths_per_step"] == 3  # heaviest, smallest, 1 random
    result = torch.load(out / "supernet.pt", weights_only=False)["result"]
    assert result["epochs"] == 2 and 0.0 <= result["test_acc_heaviest"] <= 1.0


def test_run_under_torchrun_trains_on_every_rank_and_reports_once(tmp_path, run_argv):
    argv = run_argv(tmp_path / "run", "--budget", "params_m<=1")
    got = _torchrun(*argv)
    assert got.returncode == 0, got.stderr[-3000:]
    assert "training the supernet into" in got.stderr and "on 2 ranks" in got.stderr
    assert len(got.stdout.strip().splitlines()) == 1  # rank 0 alone runs the later stages
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["budgets"][0]["ok"]
    train = json.loads((tmp_path / "run" / "supernet" / "config.json").read_text())["train"]
    images = train["batch_size"] * train["max_steps"]  # the global batches, counted once
    assert _log(tmp_path / "run" / "supernet")[0]["images"] == images
    again = _torchrun(*argv)  # the supernet is reused: the other rank has nothing to do
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reusing the trained supernet" in again.stderr


def _prune_argv(parent, out, budget="flops_ratio<=0.6"):
    argv = ["prune", "--model", str(parent), "--budget", budget, "--data", "synthetic"]
    argv += ["--epochs", "2", "--subset", "64", "--eval-subset", "16", "--steps", "1"]
    return [*argv, "--batches", "2", "--batch-size", "16", "--out", str(out)]


def test_prune_fine_tunes_on_every_rank_and_reports_once(tmp_path, capsys, one_thread):
    from budgetnas.cli.main import main

    base = tmp_path / "base"
    assert main([*ARGS, "--out", str(base)]) == 0
    parent = base / "resnet8_synthetic.pt"
    got = _torchrun(*_prune_argv(parent, tmp_path / "two"))
    assert got.returncode == 0, got.stderr[-3000:]
    assert got.stdout.count("fine-tuning on 2 ranks") == 1 and got.stdout.count("wrote ") == 1
    assert main(_prune_argv(parent, tmp_path / "one")) == 0
    one = torch.jit.load(tmp_path / "one" / "pruned.ts").state_dict()
    two = torch.jit.load(tmp_path / "two" / "pruned.ts").state_dict()
    assert {k: v.shape for k, v in one.items()} == {k: v.shape for k, v in two.items()}
    assert _relative_distance(one, two) < 0.1  # per-rank batch norm, as in train-baseline
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    assert result["budget"]["feasible"]
    # rank 0 stops before the fine-tuning (no network meets the budget): the other rank leaves
    # at once instead of waiting for a network that never comes
    failed = _torchrun(*_prune_argv(parent, tmp_path / "none", "params_m<=0.0000001"))
    assert failed.returncode != 0
    assert failed.stderr.count("error: budget unreachable") == 1  # rank 0's; rank 1 left
