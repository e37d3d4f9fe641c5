"""Image folders as datasets (``folder:PATH``): layout, decoding, modes, sizes, splits, the cache
and the streaming path of a folder too big to cache."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from budgetnas.data import (
    DataError,
    ImageTensorDataset,
    data_options,
    dataset_info,
    get_dataset,
    make_loader,
)
from budgetnas.data import images as image_files
from budgetnas.data.folder import ENV_CACHE_GB, FolderImageDataset
from imagefolders import CLASSES, make_folder


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("BUDGETNAS_CACHE", str(root))
    monkeypatch.delenv(ENV_CACHE_GB, raising=False)
    return root


def _count_decodes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = image_files.load_image

    def counting(path, size, mode):
        calls.append(str(path))
        return real(path, size, mode)

    monkeypatch.setattr(image_files, "load_image", counting)
    return calls


def test_rgb_folder_converts_odd_images_and_skips_bad_files(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=20)
    odd = root / "train" / CLASSES[1]
    Image.new("L", (28, 28), 100).save(odd / "gray.png")
    Image.new("RGB", (28, 28), (200, 10, 10)).convert("P", palette=Image.ADAPTIVE).save(
        odd / "palette.png"
    )
    Image.new("RGBA", (28, 28), (0, 255, 0, 128)).save(odd / "alpha.png")
    (odd / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (odd / "readme.txt").write_text("not an image")
    (odd / ".hidden.png").write_bytes(b"ignored")
    with pytest.warns(UserWarning, match=r"1 file\(s\).*broken\.jpg"):
        info = dataset_info(f"folder:{root}")
    assert info.classes == CLASSES
    assert (info.channels, info.image_size, info.num_classes) == (3, 28, 3)
    assert info.n_train + info.n_test == 60 + 3  # the three odd images decoded, the bad one not
    assert info.pad == 3 and info.hflip
    assert any("could not be decoded" in n for n in info.notes)
    full = get_dataset(f"folder:{root}", "train")
    test = get_dataset(f"folder:{root}", "test")
    assert isinstance(full, ImageTensorDataset) and full.images.shape[1:] == (3, 28, 28)
    labels = torch.cat([full.labels, test.labels])
    assert torch.bincount(labels).tolist() == [20, 23, 20]
    # the grayscale image became three equal channels of 100
    every = torch.cat([full.images, test.images])
    assert any(bool((img == 100).all()) for img in every)


def test_strict_makes_bad_files_an_error(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=5)
    (root / "train" / CLASSES[0] / "bad.PNG").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"bad\.PNG"):
        dataset_info(f"folder:{root}", strict=True)
    with pytest.warns(UserWarning, match=r"bad\.PNG"):
        dataset_info(f"folder:{root}")
    with pytest.raises(DataError, match=r"bad\.PNG"):  # the cache remembers the bad file
        get_dataset(f"folder:{root}", "train", strict=True)


def test_grayscale_folder_is_one_channel(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=34, rgb=False)
    Image.new("RGB", (28, 28), (1, 2, 3)).save(root / "train" / CLASSES[0] / "colour.png")
    info = dataset_info(f"folder:{root}", image_size=None)
    assert info.channels == 1 and len(info.mean) == 1  # 102 of 103 images: nearly all gray
    assert any("1 colour image(s) converted to grayscale" in n for n in info.notes)
    assert info.name == f"folder:{root.resolve()}"


def test_the_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch, cache):
    root = tmp_path / "data"
    files = make_folder(root, per_class=8)
    calls = _count_decodes(monkeypatch)
    info = dataset_info(f"folder:{root}")
    assert len(calls) == 24
    calls.clear()
    again = get_dataset(f"folder:{root}", "search-train")
    assert calls == [] and len(again) == info.n_train - info.n_heldout
    first = sorted(p.name for p in (cache / "folders").iterdir())
    assert len(first) == 1
    st = files[0].stat()
    Image.new("RGB", (28, 28), (9, 9, 9)).save(files[0], format="PNG")
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    dataset_info(f"folder:{root}")
    assert len(calls) == 24  # rebuilt
    now = sorted(p.name for p in (cache / "folders").iterdir())
    assert len(now) == 1 and now != first  # the old cache of the folder is gone
    calls.clear()
    (files[1]).unlink()
    assert dataset_info(f"folder:{root}").n_train + dataset_info(f"folder:{root}").n_test == 23
    assert len(calls) == 23


def test_without_test_and_val_fixed_shares_are_held_out(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=30)
    info = dataset_info(f"folder:{root}")
    assert (info.n_train, info.n_test, info.n_heldout) == (81, 9, 9)  # 10% per class each
    assert any("no test/ folder" in n and "9 images" in n for n in info.notes)
    assert any("no val/ folder" in n for n in info.notes)
    test = get_dataset(f"folder:{root}", "test")
    held = get_dataset(f"folder:{root}", "heldout")
    assert torch.bincount(test.labels).tolist() == [3, 3, 3]
    assert torch.bincount(held.labels).tolist() == [3, 3, 3]
    train = get_dataset(f"folder:{root}", "train")
    # held-out images are training images, never test images
    as_set = {bytes(x.numpy()) for x in train.images}
    assert all(bytes(x.numpy()) in as_set for x in held.images)
    assert not any(bytes(x.numpy()) in as_set for x in test.images)


def test_val_and_test_folders_are_the_heldout_and_test_splits(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=10)
    make_folder(root, per_class=3, sub="val", start=30)
    make_folder(root, per_class=4, sub="test", start=40)
    info = dataset_info(f"folder:{root}")
    assert (info.n_train, info.n_heldout, info.n_test) == (39, 9, 12)
    assert any("val/" in n and "held-out" in n for n in info.notes)
    assert not any("no test/" in n for n in info.notes)
    assert len(get_dataset(f"folder:{root}", "search-train")) == 30
    assert torch.bincount(get_dataset(f"folder:{root}", "heldout").labels).tolist() == [3] * 3


def test_layout_errors_name_the_folder(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DataError, match="train"):
        dataset_info(f"folder:{root}")
    make_folder(root, per_class=2)
    (root / "val" / "zebra").mkdir(parents=True)
    Image.new("RGB", (28, 28)).save(root / "val" / "zebra" / "z.png")
    with pytest.raises(DataError, match="zebra"):
        dataset_info(f"folder:{root}")
    (root / "val" / "zebra" / "z.png").unlink()
    (root / "val" / "zebra").rmdir()
    (root / "train" / "empty class").mkdir()
    (root / "train" / "empty class" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="empty class"):
        dataset_info(f"folder:{root}")


def test_image_size_defaults_to_the_most_common_and_resizes(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=4)
    big = root / "train" / CLASSES[2] / "wide.png"
    Image.new("RGB", (80, 40), (10, 20, 30)).save(big)
    info = dataset_info(f"folder:{root}")
    assert info.image_size == 28
    x = get_dataset(f"folder:{root}", "train")
    y = get_dataset(f"folder:{root}", "test")
    assert x.images.shape[2:] == (28, 28) and y.images.shape[2:] == (28, 28)
    small = dataset_info(f"folder:{root}", image_size=16)
    assert small.image_size == 16 and small.pad == 2
    ds = get_dataset(f"folder:{root}", "train", image_size=16)
    assert ds[0][0].shape == (3, 16, 16)
    # the shorter side resized, the centre cropped: the wide image keeps its colour
    arr = image_files.load_image(big, 16, "RGB")
    assert arr.shape == (3, 16, 16) and arr[:, 8, 8].tolist() == [10, 20, 30]
    with pytest.raises(ValueError, match="image_size"):
        dataset_info(f"folder:{root}", image_size=0)


def test_a_folder_too_big_to_cache_streams_the_same_tensors(tmp_path, monkeypatch):
    root = tmp_path / "data"
    make_folder(root, per_class=12)  # no test/: the statistics must leave its share out
    monkeypatch.setenv("BUDGETNAS_CACHE", str(tmp_path / "cache-a"))
    cached_info = dataset_info(f"folder:{root}")
    cached = {s: get_dataset(f"folder:{root}", s) for s in ("search-train", "heldout", "test")}
    monkeypatch.setenv("BUDGETNAS_CACHE", str(tmp_path / "cache-b"))
    monkeypatch.setenv(ENV_CACHE_GB, "1e-9")
    info = dataset_info(f"folder:{root}")
    assert any("decoded on access" in n for n in info.notes)
    assert dataclasses.replace(info, notes=()) == dataclasses.replace(cached_info, notes=())
    for split, ref in cached.items():
        ds = get_dataset(f"folder:{root}", split)
        assert isinstance(ds, FolderImageDataset) and len(ds) == len(ref)
        for i in range(len(ds)):
            x, y = ds[i]
            rx, ry = ref[i]
            assert y == ry and torch.allclose(x, rx)
    stream = get_dataset(f"folder:{root}", "search-train", subset=5, seed=3)
    again = get_dataset(f"folder:{root}", "search-train").subset(np.arange(5))
    assert len(stream) == 5 and len(again) == 5
    loader = make_loader(stream, batch_size=4, shuffle=True)
    # decoding on access streams through worker processes, one per core
    assert loader.num_workers == min(8, os.cpu_count() or 1)
    batch_x, batch_y = next(iter(loader))
    assert batch_x.shape == (4, 3, 28, 28) and batch_y.dtype == torch.long
    aug = get_dataset(f"folder:{root}", "search-train", augment=True)
    assert aug.augment and aug[0][0].shape == (3, 28, 28)


def test_get_dataset_and_make_loader_end_to_end(tmp_path):
    root = tmp_path / "data"
    make_folder(root, per_class=12)
    ds = get_dataset(f"folder:{root}", "search-train", augment=True, subset=20, seed=1)
    assert len(ds) == 20
    batches = list(make_loader(ds, batch_size=8, shuffle=True, seed=2))
    assert [len(y) for _, y in batches] == [8, 8, 4]
    x = batches[0][0]
    assert x.dtype == torch.float32 and x.shape == (8, 3, 28, 28)
    assert set(torch.cat([b[1] for b in batches]).tolist()) <= {0, 1, 2}
    # the cache opens as arrays:DIR too, e.g. from a worker process
    from budgetnas.data.folder import prepare

    arrays = dataset_info(f"arrays:{prepare(root)}")
    assert arrays.classes == CLASSES and arrays.n_test == dataset_info(f"folder:{root}").n_test


def test_a_relative_path_is_stored_resolved(tmp_path, monkeypatch):
    make_folder(tmp_path / "data", per_class=3)
    monkeypatch.chdir(tmp_path)
    info = dataset_info("folder:data")
    assert info.name == f"folder:{(tmp_path / 'data').resolve()}"


def test_data_options_of_configurations():
    from budgetnas.models.baseline import BaselineTrainConfig
    from budgetnas.training import TrainConfig

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert names[names.index("data_dir") + 1 : names.index("data_dir") + 3] == [
        "image_size",
        "strict",
    ]
    assert data_options(TrainConfig(data="folder:x", image_size=32, strict=True)) == {
        "image_size": 32,
        "strict": True,
    }
    assert data_options(TrainConfig(data="fashion-mnist", strict=True)) == {}
    with pytest.raises(ValueError, match="image_size"):
        data_options(BaselineTrainConfig(data="fashion-mnist", image_size=32))


def test_standard_datasets_name_their_classes():
    assert dataset_info("fashion-mnist").classes[0] == "T-shirt/top"
    assert dataset_info("cifar10").classes[-1] == "truck"
    assert len(dataset_info("cifar10").classes) == 10


def test_a_supernet_trains_on_a_folder_and_reopens_it(tmp_path, one_thread):
    from budgetnas.training.supernet import SupernetTrainer
    from budgetnas.training.trained import TrainedSupernet
    from conftest import tiny_train_config

    root = tmp_path / "data"
    make_folder(root, per_class=12, classes=("a", "b", "c", "d"))
    cfg = tiny_train_config(data=f"folder:{root}", image_size=16)  # the tiny space: 3x16x16
    out = tmp_path / "sn"
    SupernetTrainer(cfg, out, progress=False).run()
    trained = TrainedSupernet.open(out / "supernet.pt")
    assert trained.train.image_size == 16
    held = trained.dataset("heldout")
    assert len(held) == dataset_info(f"folder:{root}", image_size=16).n_heldout
    assert held[0][0].shape == (3, 16, 16)


def test_configurations_store_a_folder_by_its_absolute_path(tmp_path, monkeypatch):
    from budgetnas.models.baseline import BaselineTrainConfig
    from budgetnas.pruning.config import PruneDataConfig
    from budgetnas.training.config import TrainConfig

    monkeypatch.chdir(tmp_path)
    want = f"folder:{(tmp_path / 'pets').resolve()}"
    for cls in (TrainConfig, BaselineTrainConfig, PruneDataConfig):
        assert cls(data="folder:pets").data == want, cls.__name__
        assert cls(data="fashion-mnist").data == "fashion-mnist"
