"""``budgetnas bench data folder``: the first epoch decodes, the second reads the cache."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from budgetnas.cli.main import main
from imagefolders import make_folder


def test_folder_benchmark_decodes_once(tmp_path, monkeypatch, capsys):
    user_cache = tmp_path / "user-cache"
    monkeypatch.setenv("BUDGETNAS_CACHE", str(user_cache))
    make_folder(tmp_path / "images", per_class=12)
    out = tmp_path / "bench.json"
    argv = ["bench", "data", "folder", "--data", f"folder:{tmp_path / 'images'}"]
    assert (
        main(
            [
                *argv,
                "--batch-size",
                "8",
                "--stream-images",
                "10",
                "--num-workers",
                "0",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    n = result["epoch_1"]["images"]
    assert n == result["epoch_2"]["images"] > 0
    # small folders decode in this process: every image once in epoch 1, none in epoch 2
    assert result["epoch_1"]["decoded_in_process"] >= n
    assert result["epoch_2"]["decoded_in_process"] == 0
    assert result["streaming"]["images"] == 10
    assert "epoch 2 (from the cache)" in capsys.readouterr().out
    assert not (user_cache / "folders").exists()  # the benchmark had its own cache, now gone


def test_folder_benchmark_needs_a_folder():
    assert main(["bench", "data", "folder", "--data", "cifar10"]) != 0
