"""Trained networks by name: registering, checksums, downloads, packing, shipped records, and a
run on a registered supernet beside a registered baseline."""

import json
import shutil

import pytest

from budgetnas.hub import (
    ChecksumError,
    builtin_registry,
    entries,
    export_records,
    get_entry,
    import_records,
    pack_supernet,
    register_network,
    resolve_file,
    resolve_supernet,
    sha256_of,
)
from budgetnas.store import Store


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty user registry in a temporary folder."""
    root = tmp_path / "hub"
    monkeypatch.setenv("BUDGETNAS_HUB", str(root))
    return root


@pytest.fixture
def supernet_file(tiny_run, tmp_path):
    path = tmp_path / "mine.pt"
    shutil.copyfile(tiny_run.out / "supernet" / "supernet.pt", path)
    return path


def test_a_registered_supernet_opens_by_name_everywhere(hub, supernet_file, capsys):
    from budgetnas.cli.main import main
    from budgetnas.training.trained import TrainedSupernet, supernet_checkpoint

    assert main(["supernet", "register", "mine", str(supernet_file)]) == 0
    assert "registered" in capsys.readouterr().out
    assert supernet_checkpoint("mine") == supernet_file
    trained = TrainedSupernet.open("mine")
    assert trained.space.config.name == "tiny" and trained.train.data == "synthetic"
    entry = get_entry("mine")
    assert entry.sha256 == sha256_of(supernet_file) and entry.preset == "tiny"
    assert 0.0 <= entry.result["test_acc_heaviest"] <= 1.0 and "heaviest" in entry.oneshot
    assert main(["supernet", "list"]) == 0
    listed = capsys.readouterr().out
    assert "mine: synthetic / tiny" in listed and str(supernet_file) in listed


def test_a_changed_file_is_refused(hub, supernet_file):
    register_network("mine", supernet_file)
    with open(supernet_file, "ab") as f:
        f.write(b"x")
    with pytest.raises(ChecksumError, match="refused"):
        resolve_supernet("mine")
    with pytest.raises(ChecksumError, match="not the"):
        register_network("other", supernet_file, sha256="0" * 64)


def test_unknown_names_and_missing_paths_are_clear_errors(hub):
    with pytest.raises(KeyError, match="no supernet named 'nope'"):
        resolve_supernet("nope")
    with pytest.raises(FileNotFoundError, match=r"no supernet checkpoint at runs/x/supernet\.pt"):
        resolve_supernet("runs/x/supernet.pt")
    with pytest.raises(ValueError, match="register a URL"):
        resolve_supernet("https://example.org/sn.pt")
    with pytest.raises(ValueError, match="not a name"):
        register_network("Bad Name", "x.pt")


def test_a_url_entry_needs_its_checksum_downloads_once_and_is_checked(hub, supernet_file):
    url = supernet_file.as_uri()
    sha = sha256_of(supernet_file)
    with pytest.raises(ValueError, match="needs --sha256"):
        register_network("remote", url)
    with pytest.raises(ChecksumError):
        register_network("remote", url, sha256="f" * 64)
    assert not list((hub / "files").glob("*.pt"))  # a download that failed its check is removed
    entry = register_network("remote", url, sha256=sha)
    assert entry.url == url and entry.file is None
    cached = resolve_supernet("remote")
    assert cached.parent == hub / "files" and sha256_of(cached) == sha
    supernet_file.unlink()  # the source is gone: the checked download is used
    assert resolve_supernet("remote") == cached
    cached.write_bytes(b"truncated")
    with pytest.raises(ChecksumError):
        resolve_supernet("remote")


def test_pack_keeps_the_network_and_drops_the_resume_state(tiny_run, tmp_path):
    from budgetnas.training.supernet import read_checkpoint
    from budgetnas.training.trained import TrainedSupernet

    src = tiny_run.out / "supernet" / "supernet.pt"
    out = tmp_path / "packed.pt"
    pack_supernet(src, out)
    pack_supernet(src, tmp_path / "again.pt")  # the same training packs to the same bytes
    assert sha256_of(out) == sha256_of(tmp_path / "again.pt")
    packed, full = read_checkpoint(out), read_checkpoint(src)
    assert out.stat().st_size < src.stat().st_size
    assert "optimizer" not in packed and packed["teacher"] is None
    assert packed["result"] == full["result"] and packed["train"] == full["train"]
    assert all(packed["model"][k].equal(v) for k, v in full["model"].items())
    a = TrainedSupernet.open(out).score("heaviest", subset=16)
    b = TrainedSupernet.open(src).score("heaviest", subset=16)
    assert a == b


def test_pack_refuses_an_unfinished_training(tiny_run, tmp_path):
    import torch

    from budgetnas.models.checkpoint import save_atomic

    ckpt = torch.load(tiny_run.out / "supernet" / "supernet.pt", weights_only=True)
    del ckpt["result"]
    save_atomic(ckpt, tmp_path / "unfinished.pt")
    with pytest.raises(ValueError, match="not a finished training"):
        pack_supernet(tmp_path / "unfinished.pt", tmp_path / "out.pt")


def test_records_travel_between_stores(tiny_run, tmp_path):
    store = Store(tiny_run.out / "store.sqlite")
    n = export_records(store, tmp_path / "a.json.gz")
    export_records(store, tmp_path / "b.json.gz")
    assert n > 0 and sha256_of(tmp_path / "a.json.gz") == sha256_of(tmp_path / "b.json.gz")
    fresh = Store(tmp_path / "fresh.sqlite")
    fresh.put("lut_entry", "x", {"ms": 1.0})
    assert import_records(tmp_path / "a.json.gz", fresh) == n
    assert import_records(tmp_path / "a.json.gz", fresh) == 0  # nothing twice
    assert dict(fresh.items("binas")) == dict(store.items("binas"))
    assert set(fresh.kinds()) <= {"lut_entry", "binas", "oneshot"}  # nothing else travels
    assert fresh.get("lut_entry", "x") == {"ms": 1.0}
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a readable records file"):
        import_records(tmp_path / "bad.json.gz", fresh)


def test_a_run_on_a_registered_supernet_reuses_its_records_beside_a_baseline(
    hub, tiny_run, supernet_file, tmp_path, capsys, one_thread, run_argv
):
    from budgetnas.cli.main import main
    from budgetnas.models import build_model
    from budgetnas.models.checkpoint import save_checkpoint

    records = tmp_path / "records.json.gz"
    export_records(Store(tiny_run.out / "store.sqlite"), records)
    register_network("tinysn", supernet_file, records=records)
    kwargs = {"in_channels": 3, "num_classes": 4, "width": 4}
    base = save_checkpoint(
        tmp_path / "ref.pt", build_model("resnet8", **kwargs), "resnet8", kwargs, {"test_acc": 0.5}
    )
    register_network("tinyref", base, section="baselines")
    import torch

    from budgetnas.export.onnx import export_onnx
    from budgetnas.models.checkpoint import load_network

    as_onnx = tmp_path / "ref.onnx"  # the same network as an ONNX file
    export_onnx(load_network(base)[0].eval(), torch.zeros(1, 3, 16, 16), as_onnx)
    out = tmp_path / "run"
    limit = tiny_run.limit
    argv = run_argv(
        out,
        "--budget",
        f"params_m<={limit}",
        "--supernet",
        "tinysn",
        "--oneshot-subnets",
        "6",
        "--pareto",
        f"params_m=0.0001,{limit / 2},{limit}",
        "--compare",
        "tinyref",
        "--compare",
        str(as_onnx),
    )
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "stored evaluations shipped with the supernet 'tinysn'" in err
    result = json.loads((out / "result.json").read_text())
    before = json.loads((tiny_run.out / "result.json").read_text())
    assert result["predictor"]["quality"] == before["predictor"]["quality"]  # the same records
    front = result["pareto"]
    assert [r["limit"] for r in front] == [0.0001, limit / 2, limit]
    assert "error" in front[0] and all("arch" in r and r["solver_wall_s"] > 0 for r in front[1:])
    assert front[2]["predicted_accuracy"] >= front[1]["predicted_accuracy"]
    names = [r["name"] for r in result["compare"]]
    assert names == ["found network", "tinyref", str(as_onnx)]
    found, ref, onnx_ref = result["compare"]
    assert found["test_acc"] == result["test_acc"] and found["params_m"] <= limit
    assert ref["latency_ms"] > 0 and ref["source"] == str(base)
    assert onnx_ref["test_acc"] == ref["test_acc"] and onnx_ref["latency_ms"] > 0
    summary = (out / "summary.md").read_text()
    assert "## Beside reference networks" in summary and "## Pareto front" in summary
    # a rerun imports nothing new
    assert main(argv) == 0
    assert "stored evaluations shipped" not in capsys.readouterr().err


def test_the_shipped_registry_matches_its_files():
    shipped = entries()
    if not builtin_registry().is_file():
        pytest.fail(f"{builtin_registry()} is missing")
    assert "fmnist-small" in shipped and "resnet20-fmnist" in entries("baselines")
    for section in ("supernets", "baselines"):
        for entry in entries(section).values():
            if entry.registry != str(builtin_registry()):
                continue
            assert sha256_of(resolve_file(entry)) == entry.sha256  # checked, no ChecksumError
            if entry.records:
                resolve_file(entry, "records")
