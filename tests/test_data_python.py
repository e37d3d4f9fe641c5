"""Any map-style dataset from Python as budgetnas data: ``write_arrays`` and ``arrays:DIR``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, TensorDataset

from budgetnas.data import dataset_info, get_dataset, make_loader, write_arrays


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BUDGETNAS_CACHE", str(tmp_path / "cache"))


class Listed(Dataset):
    """A dataset over a list of ``(image, label)`` pairs."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def test_a_tensor_dataset_of_floats_becomes_arrays(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 3, 10, 10, generator=g)
    y = torch.arange(40) % 4
    name = write_arrays(TensorDataset(x, y), tmp_path / "out", classes=list("abcd"))
    assert name == f"arrays:{(tmp_path / 'out').resolve()}"
    info = dataset_info(name)
    assert info.classes == ("a", "b", "c", "d")
    assert (info.channels, info.image_size, info.num_classes) == (3, 10, 4)
    assert (info.n_train, info.n_test, info.n_heldout) == (36, 4, 4)
    assert any("no test dataset" in n for n in info.notes)
    full = torch.cat([get_dataset(name, "train").images, get_dataset(name, "test").images])
    expected = (x * 255).round().to(torch.uint8)
    assert sorted(bytes(a.numpy()) for a in full) == sorted(bytes(a.numpy()) for a in expected)
    # the statistics are those of the training split
    train = get_dataset(name, "train").images.float() / 255
    assert abs(train[:, 0].mean().item() - info.mean[0]) < 1e-4


def test_pil_images_with_a_test_and_val_dataset(tmp_path):
    def images(n, offset):
        return [(Image.new("RGB", (12, 12), (i * 5, 0, 0)), (i + offset) % 2) for i in range(n)]

    name = write_arrays(
        Listed(images(20, 0)),
        tmp_path / "pil",
        test=Listed(images(6, 1)),
        val=Listed(images(4, 0)),
        classes=["left", "right"],
    )
    info = dataset_info(name)
    assert (info.n_train, info.n_heldout, info.n_test) == (24, 4, 6)
    assert not any("no test" in n for n in info.notes)
    assert any("val" in n for n in info.notes)
    ds = get_dataset(name, "search-train", augment=True)
    xb, yb = next(iter(make_loader(ds, batch_size=8, shuffle=True)))
    assert xb.shape == (8, 3, 12, 12) and set(yb.tolist()) <= {0, 1}


def test_numpy_and_uint8_tensor_layouts_and_resizing(tmp_path):
    samples = [
        (np.full((16, 16), 10, np.uint8), 0),  # H x W
        (np.full((16, 16, 3), 20, np.uint8), 1),  # H x W x C
        (np.full((3, 16, 16), 30, np.uint8), 0),  # C x H x W
        (torch.full((3, 16, 16), 40, dtype=torch.uint8), 1),  # torch C x H x W
        (np.full((24, 32, 3), 50, np.uint8), 0),  # another size: resized and cropped
    ] * 2
    name = write_arrays(Listed(samples), tmp_path / "np", test=Listed(samples[:2]))
    info = dataset_info(name)
    assert (info.channels, info.image_size) == (3, 16)
    images = get_dataset(name, "train").images
    assert sorted({int(img[0, 0, 0]) for img in images}) == [10, 20, 30, 40, 50]
    small = write_arrays(Listed(samples), tmp_path / "np8", image_size=8)
    assert dataset_info(small).image_size == 8
    with pytest.raises(ValueError, match="image_size"):
        dataset_info(small, image_size=16)


def test_grayscale_samples_give_one_channel(tmp_path):
    x = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8)
    name = write_arrays(TensorDataset(x, torch.arange(12) % 3), tmp_path / "gray")
    info = dataset_info(name)
    assert info.channels == 1 and info.classes == ("0", "1", "2")


@pytest.mark.parametrize(
    ("sample", "match"),
    [
        (("a string", 0), r"train\[2\].*str"),
        ((np.zeros((4, 4), np.float32), 0), r"train\[2\].*uint8"),
        ((torch.full((3, 4, 4), 2.0), 0), r"train\[2\].*\[0, 1\]"),
        ((np.zeros((4, 4), np.uint8), 7), r"train\[2\]: label 7"),
        ((np.zeros((4, 4), np.uint8), "cat"), r"train\[2\].*int"),
        ((np.zeros((4, 4), np.uint8),), r"train\[2\].*pair"),
    ],
)
def test_bad_samples_name_their_index(tmp_path, sample, match):
    good = (np.zeros((4, 4), np.uint8), 1)
    with pytest.raises(ValueError, match=match):
        write_arrays(Listed([good, good, sample]), tmp_path / "bad", classes=["x", "y"])
    assert not (tmp_path / "bad").exists()


def test_a_missing_arrays_folder_is_a_data_error(tmp_path):
    from budgetnas.data import DataError

    with pytest.raises(DataError, match=r"meta\.json"):
        dataset_info(f"arrays:{tmp_path / 'nothing'}")
