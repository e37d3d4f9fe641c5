"""The device kit: ONNX files + a script that needs only numpy and onnxruntime, the import with
its verdict, budgets on the imported device, and a verification folded back into a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from budgetnas.costs import device_tables as dt
from budgetnas.costs.kit import build_kit, read_manifest, space_fingerprint
from budgetnas.spaces.mobilenet import MobileNetSpace
from budgetnas.store import Store


@pytest.fixture(scope="module")
def tiny_kit(tmp_path_factory):
    space = MobileNetSpace(preset="tiny")
    out = tmp_path_factory.mktemp("kit") / "kit"
    build_kit(space, out, networks=4, seed=0)
    return space, out


def isolated_python(root: Path) -> Path:
    """A virtual environment where only numpy and onnxruntime (and what they import) can be
    imported: their folders linked from this environment into a fresh one without pip."""
    import onnxruntime

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    target = next((root / "lib").glob("python*/site-packages"))
    wanted = {"numpy", "numpy.libs", "onnxruntime"}
    # onnxruntime's own imports at `import onnxruntime` (they vary by release)
    for dep in ("coloredlogs", "humanfriendly", "flatbuffers", "packaging", "sympy", "mpmath"):
        wanted.add(dep)
    for name in wanted:
        if (site / name).exists():
            os.symlink(site / name, target / name)
    assert Path(onnxruntime.__file__).parent.parent == site
    return root / "bin" / "python"


def run_script(python: Path, kit: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [
            str(python),
            "-I",
            str(kit / "measure.py"),
            "--repeats",
            "3",
            "--warmup",
            "1",
            "--min-time-ms",
            "0.2",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_kit_holds_every_block_the_fixed_parts_and_networks(tiny_kit):
    from budgetnas.costs.table import distinct_descriptors

    space, kit = tiny_kit
    manifest = read_manifest(kit)
    roles = [m["role"] for m in manifest["models"]]
    assert roles.count("block") == len(distinct_descriptors(space))
    assert roles.count("network") == 4 and roles.count("stem") == roles.count("head") == 1
    assert manifest["space_fingerprint"] == space_fingerprint(space)
    assert manifest["preset"] == "tiny" and manifest["purpose"] == "table"
    assert (kit / "measure.py").is_file() and (kit / "README.txt").is_file()
    # file names are numbered inside the kit, never taken from keys
    assert all(m["file"].split("/")[-1][:4].isdigit() for m in manifest["models"])


def test_kit_onnx_files_compute_what_the_torch_modules_compute(tmp_path):
    import onnxruntime as ort
    import torch

    from budgetnas.costs.kit import write_kit
    from budgetnas.supernet.standalone import build_network

    space = MobileNetSpace(preset="tiny")
    torch.manual_seed(0)
    module = build_network(space, space.sample(3)).eval()
    kit = write_kit(
        tmp_path / "v", space, 2, blocks=False, networks={"found": module}, purpose="verify"
    )
    (net,) = read_manifest(kit)["models"]
    assert net["input_shape"][0] == 2 and net["role"] == "network"
    x = np.random.default_rng(0).standard_normal(net["input_shape"]).astype(np.float32)
    session = ort.InferenceSession(str(kit / net["file"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_kit_is_not_written_over_a_non_empty_folder(tmp_path):
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        build_kit(MobileNetSpace(preset="tiny"), tmp_path / "kit", networks=0)
    assert (tmp_path / "kit" / "notes.txt").read_text() == "mine"


def test_script_runs_without_torch_or_budgetnas_then_import_and_search(tiny_kit, tmp_path):
    """kit -> measure.py in an environment of numpy and onnxruntime alone -> import with a
    verdict -> a search under the device's budget, with every solver kind."""
    space, kit = tiny_kit
    python = isolated_python(tmp_path / "venv")
    for module in ("torch", "budgetnas"):
        probe = subprocess.run([str(python), "-I", "-c", f"import {module}"], capture_output=True)
        assert probe.returncode != 0, f"{module} is importable in the isolated environment"
    out = tmp_path / "table.json"
    done = run_script(python, kit, out)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert len(data["results"]) == len(read_manifest(kit)["models"])
    assert all(r["median"] > 0 for r in data["results"])
    assert data["device"]["provider"] == "CPUExecutionProvider" and data["device"]["threads"] == 1
    store = Store(tmp_path / "lut.sqlite")
    record = dt.import_measurements(out, "edge", store)
    assert record.verdict["samples"] == 4 and 0 <= record.verdict["within_10pct"] <= 1
    table, again = dt.device_table(store, "edge", space)
    assert again.name == "edge" and table.fingerprint["device"] == "edge"
    assert table.fingerprint["preset"] == "tiny"
    # a budget on the device, with params at once, for the exact and the heuristic solvers
    from budgetnas.pipeline.search import search
    from budgetnas.testing.problems import random_form

    objective = random_form(space, np.random.default_rng(0), pair_density=0.0)
    cost = table.cost_model(space)
    limit = float(np.median(cost.evaluate_many([space.sample(i) for i in range(50)])))
    budgets = [f"latency_edge_ms<={limit}", "params_m<=1"]
    for solver in ("milp", "frank-wolfe", "evolution", "random"):
        res = search(space, objective, budgets, solver=solver, devices=store)
        assert cost.evaluate(res.arch) <= limit * (1 + 1e-9), solver
    # a kit for another preset is refused at import
    with pytest.raises(ValueError, match="preset 'tiny', not 'fmnist-small'"):
        dt.import_measurements(out, "edge2", store, preset="fmnist-small")


def test_a_tampered_kit_is_refused_by_the_script(tiny_kit, tmp_path):
    import shutil

    _space, kit = tiny_kit
    copy = tmp_path / "kit"
    shutil.copytree(kit, copy)
    first = read_manifest(copy)["models"][0]["file"]
    with open(copy / first, "ab") as f:
        f.write(b"\0")
    done = run_script(Path(sys.executable), copy, tmp_path / "t.json")
    assert done.returncode != 0 and "altered" in done.stderr


def test_import_refuses_another_definition_of_the_preset_and_bad_files(tiny_kit, tmp_path):
    _space, kit = tiny_kit
    out = tmp_path / "t.json"
    assert run_script(Path(sys.executable), kit, out).returncode == 0
    data = json.loads(out.read_text())
    data["kit"]["space_fingerprint"] = "0" * 16
    (tmp_path / "other.json").write_text(json.dumps(data))
    store = Store(":memory:")
    with pytest.raises(ValueError, match="not this release"):
        dt.import_measurements(tmp_path / "other.json", "edge", store)
    data = json.loads(out.read_text())
    data["results"][0]["median"] = -1
    (tmp_path / "neg.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not a positive finite number"):
        dt.import_measurements(tmp_path / "neg.json", "edge", store)
    with pytest.raises(ValueError, match="device name"):
        dt.import_measurements(out, "My Phone", store)
    with pytest.raises(FileNotFoundError, match="holds no devices"):
        dt.device_table(store, "nothere")


def test_call_cost_is_fitted_leave_one_out_and_recovers_the_truth():
    """Synthetic device: every part costs its true time plus a call of 0.05 ms; a network pays
    one call. The fitted call is 0.05 and every network is predicted exactly."""
    from budgetnas.costs.latency import Measurement
    from budgetnas.costs.table import distinct_descriptors

    space = MobileNetSpace(preset="tiny")
    rng = np.random.default_rng(0)
    true = {k: float(rng.uniform(0.1, 1.0)) for k in distinct_descriptors(space)}
    call = 0.05

    def m(v):
        return Measurement(v, v, v, v, v, 1)

    entries = {k: m(v + call) for k, v in true.items()}
    parts = {"stem": m(0.3 + call), "head": m(0.2 + call)}
    nets = {}
    for i in range(6):
        a = space.sample(i)
        t = 0.5 + sum(true[d.key()] for s in space.descriptors(a) for d in s) + call
        nets[space.to_string(a)] = m(t)
    from budgetnas.costs.table import CostTable

    raw = CostTable({"space": "mobilenet", "preset": "tiny"}, entries, 1.0, parts)
    got, verdict, records = dt._call_cost(space, raw, nets, {})
    assert got == pytest.approx(call)
    assert verdict["within_5pct"] == 1.0 and abs(verdict["worst_error_pct"]) < 1e-6
    assert "leave-one-out" in verdict["method"] and len(records) == 6


def test_device_metrics_parse_and_name_their_device():
    from budgetnas.units import parse_budget

    b = parse_budget("latency_pi4_ms<=30")
    assert b.metric == "latency_pi4_ms" and dt.device_of_metric(b.metric) == "pi4"
    assert parse_budget("latency_pi4_s<=0.03").limit == pytest.approx(30)
    assert dt.device_of_metric("latency_ms") is None


def _fake_measurement(run: Path, name: str, ms: float, threads: int = 1) -> Path:
    """What measure.py would write for the run's verification kit of device ``name``, with the
    network's time set to ``ms``."""
    import hashlib

    kit = run / "verify" / name
    manifest = read_manifest(kit)
    (net,) = manifest["models"]
    data = {
        "kind": "budgetnas-kit-measurements",
        "format": 1,
        "kit": {
            **{k: manifest[k] for k in ("purpose", "space", "preset", "space_fingerprint")},
            "resolution": manifest["resolution"],
            "batch": manifest["batch"],
            "manifest_sha256": hashlib.sha256((kit / "manifest.json").read_bytes()).hexdigest(),
        },
        "device": {"provider": "CPUExecutionProvider", "threads": threads, "clock": "thread"},
        "settings": {},
        "results": [
            {
                "role": "network",
                "key": net["key"],
                "median": ms,
                "q1": ms,
                "q3": ms,
                "min": ms,
                "max": ms,
                "n": 5,
                "number": 1,
            }
        ],
    }
    path = run / f"measured-{ms}.json"
    path.write_text(json.dumps(data))
    return path


def test_run_under_a_device_budget_then_verify(tiny_kit, tmp_path, capsys, one_thread, run_argv):
    """A run budgets an imported device: predicted, with a verification kit; a measurement that
    breaks the budget tightens it and searches again; one that holds makes it measured."""
    from budgetnas.cli.main import main

    space, kit = tiny_kit
    measured = tmp_path / "table.json"
    assert run_script(Path(sys.executable), kit, measured).returncode == 0
    store = tmp_path / "devices.sqlite"
    assert main(["lut", "import", str(measured), "--name", "edge", "--store", str(store)]) == 0
    table, _ = dt.device_table(Store(store), "edge", space)
    cost = table.cost_model(space)
    values = sorted(cost.evaluate_many([space.sample(i) for i in range(200)]))
    limit = float(values[100])
    out = tmp_path / "run"
    argv = run_argv(
        out,
        "--budget",
        f"latency_edge_ms<={limit}",
        "--budget",
        "params_m<=1",
        "--devices",
        str(store),
        "--oneshot-subnets",
        "4",
    )
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    row = next(r for r in result["budgets"] if r["metric"] == "latency_edge_ms")
    assert row["verified"] == "predicted" and row["ok"] and "device edge" in row["where"]
    assert result["devices"]["edge"]["measured_ms"] is None
    assert (out / "verify" / "edge" / "measure.py").is_file()
    summary = (out / "summary.md").read_text()
    assert "Device `edge`: **predicted, not measured**" in summary
    assert "python measure.py --threads 1 --out measured.json" in summary
    first = result["arch"]
    # measured with other threads than the table: refused
    wrong = _fake_measurement(out, "edge", row["predicted"], threads=2)
    assert main(["verify", str(out), "--measurements", str(wrong)]) == 2
    assert "other conditions" in capsys.readouterr().err
    # the device measures the network over budget: tightened, searched again, a new kit
    over = _fake_measurement(out, "edge", 1.5 * limit)
    main(["verify", str(out), "--measurements", str(over)])
    after = json.loads((out / "result.json").read_text())
    assert after["arch"] != first
    row2 = next(r for r in after["budgets"] if r["metric"] == "latency_edge_ms")
    assert row2["solver_limit"] < limit and row2["verified"] == "predicted"
    assert read_manifest(out / "verify" / "edge")["models"][0]["key"] == after["arch"]
    # a measurement of the earlier network is refused now
    assert main(["verify", str(out), "--measurements", str(over)]) == 2
    # the new network measured within budget: the row becomes measured
    ok = _fake_measurement(out, "edge", 0.9 * row2["predicted"])
    assert main(["verify", str(out), "--measurements", str(ok)]) == 0
    final = json.loads((out / "result.json").read_text())
    row3 = next(r for r in final["budgets"] if r["metric"] == "latency_edge_ms")
    assert final["arch"] == after["arch"]
    assert row3["verified"] == "measured" and row3["measured"] == pytest.approx(
        0.9 * row2["predicted"]
    )
    assert row3["ok"] and final["devices"]["edge"]["measured_ms"] is not None
