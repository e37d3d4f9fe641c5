"""Measured tables on the tiny preset: build, reuse on rebuild, validation end to end (CLI),
the ONNX Runtime backend, and energy from (fake) RAPL counters."""

from __future__ import annotations

import json

import pytest
import torch

from budgetnas.cli.main import main
from budgetnas.costs import latency
from budgetnas.costs.energy import EnergyUnavailable, RaplCounter, energy_source, measure_energy
from budgetnas.costs.measure import build_table
from budgetnas.costs.table import CostTable, distinct_descriptors, load_table
from budgetnas.costs.validate import ValidationResult
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.store import Store


@pytest.fixture(scope="module")
def space() -> MobileNetSpace:
    return MobileNetSpace(preset="tiny")


def test_build_then_rebuild_reuses_entries(space, tmp_path, monkeypatch):
    store = Store(tmp_path / "lut.sqlite")
    table = build_table(space, store, repeats=2, warmup=1)
    assert set(table.entries) == set(distinct_descriptors(space))
    assert all(
        m.median > 0 and m.q1 <= m.median <= m.q3 and m.n == 2 for m in table.entries.values()
    )
    assert table.t0 == pytest.approx(sum(m.median for m in table.t0_parts.values()))
    assert table.fingerprint["clock"] == "thread" and table.fingerprint["threads"] == 1

    def refuse(*_a, **_k):
        raise AssertionError("a stored table must not be measured again")

    monkeypatch.setattr(latency, "measure", refuse)
    again = build_table(space, store, repeats=2, warmup=1)
    assert again.entries == table.entries and again.t0 == table.t0
    assert load_table(store, space) == again
    # a partly stored table measures only what is missing
    monkeypatch.undo()
    store.delete("lut_entry", f"{table.id}/{next(iter(table.entries))}")
    calls = []
    real = latency.measure
    monkeypatch.setattr(
        latency, "measure", lambda r, *a, **k: calls.append(len(r)) or real(r, *a, **k)
    )
    build_table(space, store, repeats=2, warmup=1)
    assert calls == [1]


def test_validate_end_to_end_cli(space, tmp_path, capsys):
    out = tmp_path / "val.json"
    store = tmp_path / "lut.sqlite"
    args = [
        "lut",
        "validate",
        "--space",
        "mobilenet",
        "--preset",
        "tiny",
        "--backend",
        "torch-cpu",
        "--threads",
        "1",
        "--batch",
        "1",
        "--samples",
        "4",
        "--repeats",
        "3",
        "--warmup",
        "1",
        "--store",
        str(store),
        "--json",
        str(out),
        "--fit-correction",
        "--paired",
    ]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["samples"] == 4 and len(data["records"]) == 4
    for k in ("within_5pct", "within_10pct"):
        assert 0.0 <= data[k] <= 1.0
    assert data["max_abs_error_pct"] >= abs(data["bias_pct"]) >= 0
    assert data["within_5pct"] <= data["within_10pct"]
    assert data["paired"]["samples"] == 4
    assert all(
        r["paired_measured_ms"] > 0 and r["paired_predicted_ms"] > 0 for r in data["records"]
    )
    assert out.with_suffix(".png").stat().st_size > 1000
    assert ValidationResult.from_json(data).to_json() == data
    table = load_table(Store(store), space)
    if data["fit"]["slope"] > 0:
        assert table.correction is not None and table.correction["slope"] == data["fit"]["slope"]
    else:  # 4 networks on a busy host can fit a falling line: reported, not stored
        captured = capsys.readouterr()
        assert table.correction is None and "correction not stored" in captured.out + captured.err
    # export / import through the CLI; another fingerprint is refused for validation
    exported = tmp_path / "t.json"
    assert (
        main(["lut", "export", "--preset", "tiny", "--store", str(store), "--out", str(exported)])
        == 0
    )
    assert CostTable.from_json(exported) == table
    assert (
        main(
            [
                "lut",
                "validate",
                "--preset",
                "tiny",
                "--threads",
                "2",
                "--samples",
                "2",
                "--store",
                str(store),
                "--json",
                str(tmp_path / "v2.json"),
            ]
        )
        == 2
    )
    assert "measured elsewhere" in capsys.readouterr().err


def test_onnxruntime_backend_measures_a_block(space):
    d = next(iter(distinct_descriptors(space).values()))
    from budgetnas.supernet.standalone import InvertedResidual

    block = InvertedResidual(d)
    shape = (1, d.c_in, d.resolution, d.resolution)
    run = latency.make_runner(block, shape, backend="onnxruntime", threads=1)
    (y,) = run()
    with torch.no_grad():
        ref = block.eval()(torch.randn(*shape, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(torch.from_numpy(y), ref, atol=1e-4)
    m = latency.measure({"b": run}, repeats=3, warmup=1)["b"]
    assert m.median > 0
    with pytest.raises(ValueError, match="unknown backend"):
        latency.make_runner(block, shape, backend="tvm")
    with pytest.raises(ValueError, match="threads 1"):
        latency.measure({"b": run}, repeats=1, threads=2, clock="thread")


def test_energy_from_fake_rapl_counters(tmp_path):
    assert energy_source(tmp_path / "none").startswith("unavailable")
    with pytest.raises(EnergyUnavailable, match="import"):
        RaplCounter(tmp_path / "none")
    dom = tmp_path / "intel-rapl:0"
    dom.mkdir()
    (dom / "energy_uj").write_text("999000")
    (dom / "max_energy_range_uj").write_text("1000000")
    assert energy_source(tmp_path) == "rapl:intel-rapl:0"
    counter = RaplCounter(tmp_path)
    assert counter.delta_uj([999000], [1000]) == 2000  # wrapped around

    def one_millijoule():  # each call "uses" 1 mJ, wrapping the counter now and then
        v = int((dom / "energy_uj").read_text())
        (dom / "energy_uj").write_text(str((v + 1000) % 1000000))

    m = measure_energy({"f": one_millijoule}, repeats=3, warmup=1, min_time_s=0.002, root=tmp_path)[
        "f"
    ]
    assert m.median == pytest.approx(1.0) and m.min == pytest.approx(1.0)


def test_lut_benchmark_is_the_validation():
    from budgetnas.bench._base import BENCHMARKS
    from budgetnas.costs.validate import ValidateConfig

    bench = BENCHMARKS.create("lut")
    assert bench.config is ValidateConfig and bench.summary is not None
    cfg = ValidateConfig()
    assert (cfg.samples, cfg.repeats, cfg.warmup, cfg.json_out) == (
        100,
        30,
        5,
        "runs/lut/validate.json",
    )


def test_a_falling_correction_is_not_stored(space, tmp_path, capsys, monkeypatch):
    """A correction the table would refuse when loaded (slope <= 0) is reported, not stored."""
    import budgetnas.costs.validate as validate

    monkeypatch.setattr(validate, "fit_correction", lambda p, m: (-0.08, 1.0))
    store = tmp_path / "lut.sqlite"
    args = ["lut", "validate", "--space", "mobilenet", "--preset", "tiny", "--threads", "1",
            "--samples", "3", "--repeats", "2", "--warmup", "1", "--store", str(store),
            "--json", str(tmp_path / "v.json"), "--fit-correction"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "correction not stored: the fitted slope -0.0800 is not positive" in " ".join(
        printed.split()
    )
    assert load_table(Store(store), space).correction is None
