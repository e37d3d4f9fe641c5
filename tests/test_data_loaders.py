"""Data package: splits, errors naming the path, CIFAR pickles, synthetic data, loaders."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from budgetnas.data import DataError, dataset_info, get_dataset, make_loader
from budgetnas.data._base import heldout_indices

REAL = os.environ.get("BUDGETNAS_DATA")


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _fake_fmnist(folder: Path, n_train: int = 60_000, n_test: int = 10) -> Path:
    """Write a structurally valid Fashion-MNIST folder (small images to keep it fast)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train = rng.integers(0, 255, (n_train, 28, 28))
    train[:, 0, 0], train[:, 0, 1] = np.arange(n_train) % 256, np.arange(n_train) // 256  # image id
    _write_idx(folder / "train-images-idx3-ubyte.gz", train)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_train))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (n_test, 28, 28)))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, n_test))
    return folder


@pytest.fixture(scope="module")
def fake_fmnist(tmp_path_factory) -> Path:
    return _fake_fmnist(tmp_path_factory.mktemp("data") / "fashion-mnist")


def test_fake_fmnist_splits_are_disjoint_and_stable(fake_fmnist, monkeypatch):
    monkeypatch.delenv("BUDGETNAS_DATA", raising=False)
    root = fake_fmnist.parent
    held = get_dataset("fashion-mnist", "heldout", data_dir=root)
    search = get_dataset("fashion-mnist", "search-train", data_dir=fake_fmnist)
    full = get_dataset("fashion-mnist", "train", data_dir=root)
    assert len(held) == 10_000 and len(search) == 50_000 and len(full) == 60_000
    idx = heldout_indices(60_000, 10_000)
    assert torch.equal(held.images, full.images[torch.as_tensor(idx)])

    # held-out and search-train together are the training set, with no image in both
    def ids(ds):
        return (ds.images[:, 0, 0, 0].long() + 256 * ds.images[:, 0, 0, 1].long()).numpy()

    assert sorted(np.concatenate([ids(held), ids(search)]).tolist()) == list(range(60_000))
    np.testing.assert_array_equal(ids(held), idx)
    np.testing.assert_array_equal(idx, heldout_indices(60_000, 10_000))  # never depends on seed
    assert len(get_dataset("fashion-mnist", "test", data_dir=root)) == 10
    a = get_dataset("fashion-mnist", "heldout", data_dir=root, subset=50, seed=1)
    b = get_dataset("fashion-mnist", "heldout", data_dir=root, subset=50, seed=1)
    c = get_dataset("fashion-mnist", "heldout", data_dir=root, subset=50, seed=2)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    x, y = a[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and isinstance(y, int)


def test_missing_file_names_path_and_fix(fake_fmnist, tmp_path, monkeypatch):
    monkeypatch.delenv("BUDGETNAS_DATA", raising=False)
    broken = tmp_path / "fashion-mnist"
    shutil.copytree(fake_fmnist, broken)
    (broken / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        get_dataset("fashion-mnist", "test", data_dir=tmp_path)
    msg = str(err.value)
    assert str(broken / "t10k-labels-idx1-ubyte.gz") in msg
    assert "dataset-fashion-mnist" in msg and "--data-dir" in msg
    assert isinstance(err.value, FileNotFoundError)
    # the environment variable is an explicit choice too: no silent download
    monkeypatch.setenv("BUDGETNAS_DATA", str(tmp_path))
    with pytest.raises(DataError, match="BUDGETNAS_DATA"):
        get_dataset("fashion-mnist", "train")


def test_truncated_gzip_is_a_clear_error(fake_fmnist, tmp_path, monkeypatch):
    monkeypatch.delenv("BUDGETNAS_DATA", raising=False)
    shutil.copytree(fake_fmnist, tmp_path / "fashion-mnist")
    path = tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        get_dataset("fashion-mnist", "test", data_dir=tmp_path)
    assert str(path) in str(err.value)


def test_short_idx_payload_is_a_clear_error(fake_fmnist, tmp_path, monkeypatch):
    monkeypatch.delenv("BUDGETNAS_DATA", raising=False)
    folder = shutil.copytree(fake_fmnist, tmp_path / "fashion-mnist")
    path = folder / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    with gzip.open(path, "wb") as f:  # a valid gzip whose content lost its tail
        f.write(raw[:-100])
    with pytest.raises(DataError, match="expected") as err:
        get_dataset("fashion-mnist", "test", data_dir=tmp_path)
    assert str(path) in str(err.value)


def _fake_cifar(folder: Path, n_per_batch: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 255, (n_per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, n_per_batch).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def test_cifar_pickle_batches(tmp_path, monkeypatch):
    monkeypatch.delenv("BUDGETNAS_DATA", raising=False)
    _fake_cifar(tmp_path / "cifar10" / "cifar-10-batches-py", 10_000)
    train = get_dataset("cifar10", "train", data_dir=tmp_path)
    held = get_dataset("cifar10", "heldout", data_dir=tmp_path)
    assert len(train) == 50_000 and len(held) == 5_000
    assert len(get_dataset("cifar10", "search-train", data_dir=tmp_path)) == 45_000
    x, _ = get_dataset("cifar10", "test", data_dir=tmp_path, augment=True)[3]
    assert x.shape == (3, 32, 32)
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        get_dataset("cifar10", "test", data_dir=tmp_path)
    assert str(path) in str(err.value)


def test_synthetic_and_loader_are_deterministic():
    info = dataset_info("synthetic", channels=1, image_size=12, num_classes=3)
    ds = get_dataset("synthetic", "search-train", channels=1, image_size=12, num_classes=3)
    assert len(ds) == info.n_train - info.n_heldout
    assert ds[0][0].shape == (1, 12, 12) and set(ds.labels.tolist()) == {0, 1, 2}
    first = [y for _, y in make_loader(ds, 32, shuffle=True, seed=3)]
    again = [y for _, y in make_loader(ds, 32, shuffle=True, seed=3)]
    other = [y for _, y in make_loader(ds, 32, shuffle=True, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    # class templates make the data learnable: nearest class mean beats chance by far
    flat = ds.images.float().flatten(1)
    means = torch.stack([flat[ds.labels == k].mean(0) for k in range(3)])
    pred = torch.cdist(flat, means).argmin(1)
    assert (pred == ds.labels).float().mean() > 0.8


def test_augmentation_follows_torch_rng():
    ds = get_dataset("synthetic", "train", augment=True)
    torch.manual_seed(5)
    a = torch.stack([ds[i][0] for i in range(8)])
    torch.manual_seed(5)
    b = torch.stack([ds[i][0] for i in range(8)])
    plain = torch.stack([get_dataset("synthetic", "train")[i][0] for i in range(8)])
    assert torch.equal(a, b) and not torch.equal(a, plain)


def test_unknown_names_are_value_errors():
    with pytest.raises(ValueError, match="unknown dataset"):
        get_dataset("imagenet", "train")
    with pytest.raises(ValueError, match="unknown split"):
        get_dataset("synthetic", "valid")


@pytest.mark.skipif(not REAL, reason="BUDGETNAS_DATA not set")
def test_real_fashion_mnist_statistics():
    full = get_dataset("fashion-mnist", "train")
    assert len(full) == 60_000
    pix = full.images.float() / 255
    assert abs(pix.mean().item() - 0.2860) < 1e-3 and abs(pix.std().item() - 0.3530) < 1e-3
    assert torch.bincount(full.labels).tolist() == [6000] * 10
    assert len(get_dataset("fashion-mnist", "test")) == 10_000
