"""Loading a file never runs code inside it, and a corrupt file gives a clear error.

A crafted pickle whose ``__reduce__`` would create a marker file is passed to every command that
loads a file; the marker must not appear and the command exits 2 naming the file. Truncated,
random and empty files give a ``ValueError`` naming the file and the remedy.
"""

import io
import os
import pickle
import sqlite3

import numpy as np
import pytest
import torch

from budgetnas.cli.main import main
from budgetnas.safeio import UntrustedFileError, load_plain_pickle, load_weights


class _Payload:
    """Unpickling this creates ``marker``: it stands for any code a crafted file could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _crafted(path, marker, torch_format=True):
    obj = {"format": 1, "model": _Payload(marker)}
    if torch_format:
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    return path


@pytest.fixture
def crafted(tmp_path):
    marker = tmp_path / "ran"
    return _crafted(tmp_path / "evil.pt", marker), marker


def _refused(capsys, path, marker, *more):
    err = capsys.readouterr().err
    assert not marker.exists(), "the file's code ran"
    assert str(path) in err and "could run code" in err, err
    assert "Traceback" not in err
    for text in more:
        assert text in err, err


def test_eval_and_run_refuse_a_crafted_supernet(crafted, tmp_path, capsys, run_argv):
    path, marker = crafted
    assert main(["eval", "--supernet", str(path), "--arch", "heaviest"]) == 2
    _refused(capsys, path, marker)
    argv = run_argv(tmp_path / "run", "--budget", "params_m<=1", "--supernet", str(path))
    assert main(argv) == 2
    _refused(capsys, path, marker)  # checked before it is copied into the run
    assert not (tmp_path / "run" / "supernet" / "supernet.pt").exists()


def test_train_refuses_a_crafted_stage_a(crafted, tmp_path, capsys):
    path, marker = crafted
    argv = ["train", "--data", "synthetic", "--preset", "tiny", "--epochs", "1"]
    argv += ["--stage-a-from", str(path), "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    _refused(capsys, path, marker)


def test_prune_refuses_a_pickled_module_without_trust_file(crafted, tmp_path, capsys):
    path, marker = crafted
    argv = ["prune", "--model", str(path), "--budget", "flops_ratio<=0.5", "--data", "synthetic"]
    assert main([*argv, "--out", str(tmp_path / "p")]) == 2
    _refused(capsys, path, marker, "--trust-file", "--model-class", "TorchScript")


def test_pickled_module_loads_only_with_trust_file(tmp_path):
    from budgetnas.models.checkpoint import load_network

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    torch.save(net, tmp_path / "m.pt")
    with pytest.raises(UntrustedFileError, match="--trust-file"):
        load_network(tmp_path / "m.pt")
    loaded, desc = load_network(tmp_path / "m.pt", trust_file=True)
    assert isinstance(loaded, torch.nn.Sequential) and desc["class"].endswith(":Sequential")
    x = torch.randn(1, 3, 6, 6)
    assert torch.equal(loaded(x), net(x))
    # a state dict with --model-class needs no trust
    torch.save(net.state_dict(), tmp_path / "s.pt")
    with pytest.raises(ValueError, match="--model-class"):
        load_network(tmp_path / "s.pt")


def test_cifar_batch_cannot_run_code(tmp_path, monkeypatch):
    from budgetnas.data import DataError, get_dataset

    monkeypatch.delenv("BUDGETNAS_DATA", raising=False)
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8), b"labels": [1] * 20}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    assert len(get_dataset("cifar10", "test", data_dir=tmp_path)) == 20  # arrays still load
    marker = tmp_path / "ran"
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Payload(marker)}))
    with pytest.raises(DataError, match="test_batch"):
        get_dataset("cifar10", "test", data_dir=tmp_path)
    assert not marker.exists()
    argv = ["train", "--data", "cifar10", "--data-dir", str(tmp_path), "--preset", "tiny"]
    argv += ["--out", str(tmp_path / "t")]
    assert main(argv) == 2
    assert not marker.exists()


def test_plain_pickle_keeps_arrays_and_refuses_globals():
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    for protocol in (2, 4, 5):
        back = load_plain_pickle(io.BytesIO(pickle.dumps({b"a": arr, "l": [1.5]}, protocol)))
        assert np.array_equal(back[b"a"], arr) and back["l"] == [1.5]
    with pytest.raises(pickle.UnpicklingError, match=r"(posix|nt)\.system"):
        load_plain_pickle(io.BytesIO(pickle.dumps(_System())))


class _System:
    def __reduce__(self):
        return (os.system, ("true",))


def _damaged(path, good: bytes):
    """Truncated, random and empty versions of ``good`` written in turn to ``path``."""
    for data in (good[: len(good) // 2], np.random.default_rng(0).bytes(4096), b""):
        path.write_bytes(data)
        yield


def test_load_weights_names_the_file_and_remedy(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(3)}, path)
    good = path.read_bytes()
    assert load_weights(path, "thing", "redo it")["w"].tolist() == [1.0] * 3
    for _ in _damaged(path, good):
        with pytest.raises(ValueError, match=r"(truncated or corrupt|is empty).*: redo it") as e:
            load_weights(path, "thing", "redo it")
        assert str(path) in str(e.value)
    with pytest.raises(FileNotFoundError, match="no thing"):
        load_weights(tmp_path / "missing.pt", "thing", "redo it")


def test_corrupt_supernet_checkpoint(tmp_path, capsys):
    from budgetnas.training.supernet import read_checkpoint

    path = tmp_path / "supernet.pt"
    torch.save({"format": 1, "model": {"w": torch.zeros(2)}}, path)
    assert read_checkpoint(path)["format"] == 1
    good = path.read_bytes()
    for _ in _damaged(path, good):
        with pytest.raises(ValueError, match="train the supernet again") as e:
            read_checkpoint(path)
        assert str(path) in str(e.value)
        assert main(["eval", "--supernet", str(path), "--arch", "heaviest"]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "Traceback" not in err
    torch.save({"format": 99}, path)
    with pytest.raises(ValueError, match="not a budgetnas supernet checkpoint"):
        read_checkpoint(path)


def test_corrupt_model_file_for_prune(tmp_path, capsys):
    from budgetnas.models import build_model
    from budgetnas.models.checkpoint import load_network, save_checkpoint

    net = build_model("resnet8", width=8, num_classes=4)
    path = save_checkpoint(tmp_path / "m.pt", net, "resnet8", {"width": 8, "num_classes": 4})
    loaded, desc = load_network(path)
    assert desc["model"] == "resnet8"
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in loaded.state_dict().items())
    good = path.read_bytes()
    for _ in _damaged(path, good):
        with pytest.raises(ValueError, match=r"truncated or corrupt|is empty") as e:
            load_network(path)
        assert str(path) in str(e.value)
        argv = ["prune", "--model", str(path), "--budget", "flops_ratio<=0.5"]
        assert main([*argv, "--data", "synthetic", "--out", str(tmp_path / "p")]) == 2
        assert "Traceback" not in capsys.readouterr().err


def test_corrupt_torchscript_file(tmp_path):
    from budgetnas.models.checkpoint import load_network

    net = torch.jit.trace(torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8))
    torch.jit.save(net, str(tmp_path / "m.ts"))
    good = (tmp_path / "m.ts").read_bytes()
    for _ in _damaged(tmp_path / "m.ts", good):
        with pytest.raises(ValueError, match=r"m\.ts is (truncated or corrupt|empty)"):
            load_network(tmp_path / "m.ts")


def test_corrupt_store(tmp_path):
    from budgetnas.store import Store

    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        s.put("k", "a", {"v": 1})
    assert Store(path).get("k", "a") == {"v": 1}
    good = path.read_bytes()
    for data in (np.random.default_rng(1).bytes(8192), good[:100]):
        for side in ("-wal", "-shm"):
            (tmp_path / f"store.sqlite{side}").unlink(missing_ok=True)
        path.write_bytes(data)
        with pytest.raises(ValueError, match="delete it") as e:
            Store(path).get("k", "a")
        assert str(path) in str(e.value)
        assert not isinstance(e.value, sqlite3.DatabaseError)


def test_finetune_cache_damaged_or_crafted_is_simply_redone(tmp_path):
    from budgetnas.pipeline.stages.finetune import _read_cache

    net = torch.nn.Linear(3, 2)
    path = tmp_path / "finetuned-abc.pt"
    torch.save({"model": net.state_dict(), "accs": {"test_acc": 0.5}}, path)
    child, accs = _read_cache(path, torch.nn.Linear(3, 2))
    assert accs == {"test_acc": 0.5} and torch.equal(child.weight, net.weight)
    good = path.read_bytes()
    for _ in _damaged(path, good):
        assert _read_cache(path, torch.nn.Linear(3, 2)) is None
    assert _read_cache(path, torch.nn.Linear(4, 2)) is None  # another network's weights
    marker = tmp_path / "ran"
    assert _read_cache(_crafted(path, marker), torch.nn.Linear(3, 2)) is None
    assert not marker.exists()


def test_train_baseline_state_damaged_or_crafted(tmp_path):
    from budgetnas.models.baseline import STATE, _resumable

    net = torch.nn.Linear(3, 2)
    path = tmp_path / STATE
    _, save = _resumable(True, 2, net, path, {"lr": 0.1}, lambda _: None)
    save({"epoch": 1})
    state, _ = _resumable(True, 2, torch.nn.Linear(3, 2), path, {"lr": 0.1}, lambda _: None)
    assert state == {"epoch": 1}
    good = path.read_bytes()
    for _ in _damaged(path, good):
        with pytest.raises(ValueError, match="without --resume") as e:
            _resumable(True, 2, net, path, {"lr": 0.1}, lambda _: None)
        assert str(path) in str(e.value)
    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match="could run code"):
        _resumable(True, 2, net, _crafted(path, marker), {"lr": 0.1}, lambda _: None)
    assert not marker.exists()
