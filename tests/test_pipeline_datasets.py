"""``run_pipeline`` on the user's own torch Datasets (no folder, no dataset name)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from budgetnas.pipeline.config import RunConfig  # noqa: E402
from budgetnas.pipeline.run import run_pipeline  # noqa: E402


class PairList(torch.utils.data.Dataset):
    """A map-style dataset of (uint8 C x H x W tensor, int) pairs, as user code would write."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def _synthetic(part: str):
    from budgetnas.data import synthetic

    images, labels = synthetic.load(part, synthetic.info(3, 16, 4, n_train=160, n_test=64))
    return PairList(images, labels)


def test_run_on_python_datasets_writes_them_once_and_names_them(tmp_path, one_thread):
    cfg = RunConfig.from_preset("tiny", budgets=["params_m<=1"])
    out = tmp_path / "run"
    classes = ["ant", "bee", "cat", "dog"]
    logs: list[str] = []
    result = run_pipeline(
        cfg,
        out,
        log=logs.append,
        train=_synthetic("train"),
        test=_synthetic("test"),
        classes=classes,
    )
    assert any("writing the datasets" in m for m in logs)
    assert result.data == f"arrays:{(out / 'data').resolve()}"
    assert result.dataset["classes"] == classes
    assert (result.dataset["n_test"], result.dataset["image_size"]) == (64, 16)
    assert json.loads((out / "labels.json").read_text()) == classes
    # the saved configuration names the written arrays: the run repeats from the command line
    assert f'data = "arrays:{(out / "data").resolve()}"' in (out / "config.toml").read_text()
    assert 0.0 <= result.test_acc <= 1.0


def test_options_of_train_need_train(tmp_path):
    cfg = RunConfig.from_preset("tiny", budgets=["params_m<=1"])
    with pytest.raises(ValueError, match="pass train too"):
        run_pipeline(cfg, tmp_path / "run", test=_synthetic("test"))


def test_a_mistyped_budget_fails_before_the_data_is_written(tmp_path):
    cfg = RunConfig.from_preset("tiny", budgets=["paramz<=1"])
    with pytest.raises(ValueError):
        run_pipeline(cfg, tmp_path / "run", train=_synthetic("train"))
    assert not (tmp_path / "run" / "data").exists()
