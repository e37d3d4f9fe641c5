"""``budgetnas data info``: a dataset described before anything trains."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from budgetnas.cli.main import main
from imagefolders import CLASSES, make_folder


def test_info_of_a_folder_names_classes_splits_preset_and_skipped_files(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BUDGETNAS_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "images"
    make_folder(root, per_class=20)
    (root / "train" / CLASSES[1] / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        assert main(["data", "info", f"folder:{root}"]) == 0
    out = capsys.readouterr().out
    assert "28x28 RGB, 3 classes: dots.in.name, t-shirt top, ü class" in out
    assert "space preset for --space-preset auto: 28px-rgb-3cls" in out
    assert "note: no test/ folder" in out
    assert "skipped 1 file(s)" in out and "broken.jpg" in out
    assert f"cache: {tmp_path / 'cache'}" in out
    # --strict refuses the undecodable file, naming it
    assert main(["data", "info", f"folder:{root}", "--strict"]) != 0
    assert "broken.jpg" in capsys.readouterr().err


def test_info_as_json(capsys):
    assert main(["data", "info", "synthetic", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert (rec["image_size"], rec["channels"], rec["preset"]) == (16, 3, "16px-rgb-4cls")


def test_info_of_a_named_set_with_an_image_size_is_refused(capsys):
    assert main(["data", "info", "fashion-mnist", "--image-size", "64"]) != 0
    assert "image_size is an option of folder data" in capsys.readouterr().err
