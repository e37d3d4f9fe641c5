"""``budgetnas committee`` end to end on the tiny run: candidates, choice on the held-out split,
export reloaded without budgetnas, measured latencies, the rerun reusing the fine-tunings."""

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def committee(tiny_run, tmp_path_factory, one_thread_module):
    from budgetnas.cli.main import main

    out = tmp_path_factory.mktemp("committee") / "c"
    argv = [
        "committee",
        "--run",
        str(tiny_run.out),
        "--out",
        str(out),
        "--budget",
        "latency_ms<=100",
        "--budget",
        "worst_latency_ms<=300",
        "--candidates",
        "3",
        "--latency-images",
        "8",
        "--repeats",
        "2",
        "--grid",
        "8",
        "--sweep",
        "50,100",
    ]
    assert main(argv) == 0
    return out, json.loads((out / "committee.json").read_text()), argv


@pytest.fixture(scope="module")
def one_thread_module():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_result_holds_the_budgets_on_the_heldout_split(committee):
    out, res, _ = committee
    assert res["chosen"]
    for row in res["chosen"].values():
        assert row["mean"]["latency_ms"] <= 100 and row["worst"]["latency_ms"] <= 300
        assert 0 <= row["test"]["accuracy"] <= 1
        assert row["test"]["measured_mean_latency_ms"] > 0
        assert sum(row["test"]["exit_shares"]) == pytest.approx(1.0)
    assert "held-out" in res["where"]["choice"] and "test" in res["where"]["accuracy, exit shares"]
    for c in res["candidates"]:
        assert set(c["costs"]) == {"latency_ms", "flops_m", "params_m"}
    assert [r["limit"] for r in res["sweep"]] == [50.0, 100.0]
    assert (out / "plots" / "committees.png").is_file()


def test_exports_reload_without_budgetnas(committee):
    out, res, _ = committee
    assert res["exports"]
    for ex in res["exports"].values():
        spec = json.loads((out / ex["spec"]).read_text())
        code = f"""
import sys, json, numpy as np, torch, onnxruntime as ort
sys.modules['budgetnas'] = None  # any import of budgetnas fails
m = torch.jit.load({str(out / ex["module"])!r})
spec = json.load(open({str(out / ex["spec"])!r}))
x = torch.randn(5, *spec['input'][1:], generator=torch.Generator().manual_seed(0))
p = m(x).detach().numpy()
ps = []
for mem in spec['members']:
    s = ort.InferenceSession({str(out)!r} + '/' + mem['onnx'])
    rows = [s.run(None, {{s.get_inputs()[0].name: x[i:i+1].numpy()}})[0] for i in range(5)]
    z = np.concatenate(rows); z = np.exp(z - z.max(1, keepdims=True)); ps.append(z / z.sum(1, keepdims=True))
if spec['kind'] == 'ensemble':
    ref = np.mean(ps, 0)
else:
    ref = np.zeros_like(ps[0]); left = np.ones(5, bool)
    for j, q in enumerate(ps):
        t = spec['thresholds'][j] if j < len(spec['thresholds']) else 0.0
        go = left & (q.max(1) >= t); ref[go] = q[go]; left &= ~go
    one = np.concatenate([m(x[i:i+1]).detach().numpy() for i in range(5)])
    assert np.abs(one - p).max() < 1e-5, 'batch routing differs from one by one'
    e = m.exits(x); assert e.min() >= 0 and e.max() < len(spec['members'])
assert np.abs(ref - p).max() < 1e-4, np.abs(ref - p).max()
print('ok')
"""
        got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert got.returncode == 0 and "ok" in got.stdout, got.stderr
        assert spec["budgets"] == ["latency_ms<=100", "worst_latency_ms<=300"]


def test_rerun_reuses_finetuned_candidates(committee, capsys):
    from budgetnas.cli.main import main

    out, res, argv = committee
    assert main(argv[:-2]) == 0  # no sweep
    logged = capsys.readouterr()
    assert logged.err.count("reusing the fine-tuned candidate") + logged.out.count(
        "reusing the fine-tuned candidate"
    ) == len(res["candidates"])
    again = json.loads((out / "committee.json").read_text())
    assert [c["test_acc"] for c in again["candidates"]] == [
        c["test_acc"] for c in res["candidates"]
    ]


def test_budget_no_committee_meets_is_a_clear_error(tiny_run, tmp_path):
    from budgetnas.committee import CommitteeBudgetError, CommitteeConfig, build_committee

    cfg = CommitteeConfig(
        run=str(tiny_run.out),
        out=str(tmp_path / "c"),
        budgets=["flops_m<=0.0001"],
        candidates=2,
        latency_images=4,
        repeats=1,
    )
    with pytest.raises(CommitteeBudgetError, match="cheapest candidate"):
        build_committee(cfg, log=lambda s: None)


def test_missing_settings_and_files_are_refused(tmp_path):
    from budgetnas.committee import CommitteeConfig, build_committee

    with pytest.raises(ValueError, match="missing: --budget"):
        build_committee(CommitteeConfig(run="r", out="o"))
    with pytest.raises(FileNotFoundError, match="no model file"):
        build_committee(
            CommitteeConfig(
                run="r",
                out=str(tmp_path),
                budgets=["flops_m<=1"],
                models=[str(tmp_path / "nope.pt")],
            )
        )


def test_an_onnx_model_joins_as_the_network_it_is(committee, tmp_path):
    # a member the committee exported as ONNX, given back as the user's own model: the same
    # network, so the same held-out accuracy and counted FLOPs as its fine-tuned original
    import shutil

    from budgetnas.cli.main import main

    out, res, argv = committee
    name = next(iter(res["exports"].values()))["members"][0]
    onnx_file = tmp_path / "mine.onnx"
    shutil.copy(out / name, onnx_file)
    again = tmp_path / "c"
    shutil.copytree(out, again)  # the fine-tuned candidates are reused
    args = [*argv[:-2], "--model", str(onnx_file)]
    args[args.index("--out") + 1] = str(again)
    assert main(args) == 0
    got = json.loads((again / "committee.json").read_text())["candidates"]
    mine = next(c for c in got if c["source"] == str(onnx_file))
    twin = next(c for c in got if c["name"] == name.removeprefix("members/").removesuffix(".onnx"))
    assert mine["heldout_acc"] == twin["heldout_acc"] and mine["test_acc"] == twin["test_acc"]
    assert mine["costs"]["flops_m"] == pytest.approx(twin["costs"]["flops_m"])
    # the ONNX export folds each batch norm into its convolution: fewer parameters, same work
    assert mine["costs"]["params_m"] < twin["costs"]["params_m"]


def test_a_user_model_that_does_not_fit_the_data_is_refused(tiny_run, tmp_path):
    from budgetnas.committee import CommitteeConfig, build_committee
    from budgetnas.export.onnx import export_onnx

    c = tiny_run.space.config
    nn = torch.nn
    shape = (c.in_channels, c.image_size, c.image_size)
    bigger = nn.Sequential(nn.Conv2d(c.in_channels, c.num_classes, 3), nn.Flatten()).eval()
    export_onnx(bigger, torch.zeros(1, c.in_channels, c.image_size + 4, c.image_size + 4),
                tmp_path / "big.onnx")  # fmt: skip
    more = nn.Sequential(
        nn.Conv2d(c.in_channels, c.num_classes + 3, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    ).eval()
    export_onnx(more, torch.zeros(1, *shape), tmp_path / "more.onnx")
    for name, match in [("big.onnx", "takes .* images"), ("more.onnx", "logits per image")]:
        cfg = CommitteeConfig(
            run=str(tiny_run.out),
            out=str(tmp_path / f"committee-{name}"),
            budgets=["flops_m<=1000"],
            candidates=1,
            models=[str(tmp_path / name)],
            latency_images=2,
            repeats=1,
        )
        with pytest.raises(ValueError, match=match):
            build_committee(cfg, log=lambda s: None)


def test_latency_over_budget_as_measured_is_chosen_again(committee, tmp_path, monkeypatch):
    # ensembles and cascades made 10x slower when run than their members' costs say (as cache
    # misses and routing make them, much worse); the candidates timed as in the first run and
    # single networks as fast as those costs, so the load of a busy machine cannot decide the
    # test. The closed loop measures each chosen committee, chooses again under tightened
    # limits, and leaves out a kind that cannot fit as measured
    import shutil

    import budgetnas.committee.run as run_mod
    from budgetnas.committee import CommitteeConfig, build_committee

    out, res, argv = committee
    again = tmp_path / "c"
    shutil.copytree(out, again)
    real = run_mod._measure_committees
    slower = {"committee": 10.0, "single": 1.0}

    timed = {c["name"]: c["costs"]["latency_ms"] for c in res["candidates"]}
    costs_of = {}  # a single network in the loop runs exactly as its timed cost says

    def slow(modules, images, fingerprint, repeats):
        if set(modules) - {"mean", "worst"}:  # not the closed loop's measurement
            got = real(modules, images, fingerprint, repeats)
            got.update({k: timed[k] for k in got if k in timed})  # the candidates: as before
            costs_of.update({id(m): got[k] for k, m in modules.items()})
            return got
        what = getattr(modules["mean"], "original_name", "")
        if what not in ("Cascade", "Ensemble"):
            return {k: costs_of[id(m)] * slower["single"] for k, m in modules.items()}
        got = real(modules, images, fingerprint, repeats)
        return {k: v * slower["committee"] for k, v in got.items()}

    monkeypatch.setattr(run_mod, "_measure_committees", slow)
    costs = [c["costs"]["latency_ms"] for c in res["candidates"]]
    limit = 3 * max(costs)  # every single network fits, as costed and as measured
    cfg = CommitteeConfig(
        run=argv[argv.index("--run") + 1],
        out=str(again),
        budgets=[f"latency_ms<={limit}"],
        candidates=3,
        latency_images=8,
        repeats=2,
        grid=8,
    )
    logged = []
    got = build_committee(cfg, log=logged.append).chosen
    single = got["single"]["closed_loop"]
    assert len(single) == 1 and single[0]["ok"] and single[0]["measured_mean_ms"] <= limit
    assert "ensemble" not in got  # two members at 10x can never fit 3x the costliest one
    assert any(line.startswith("ensemble: measured") for line in logged)
    assert any("ensemble" in line and "left out" in line for line in logged)
    if "cascade" in got:  # kept only as measured under the limit, after a tightening
        rounds = got["cascade"]["closed_loop"]
        assert rounds[-1]["ok"] and rounds[-1]["measured_mean_ms"] <= limit
        assert all(not r["ok"] for r in rounds[:-1])
    # nothing fits as measured: a clear error
    slower["single"] = 10.0
    cfg.budgets = [f"latency_ms<={1.3 * min(costs)}"]  # fits on paper, not as measured
    with pytest.raises(ValueError, match="as measured at batch 1"):
        build_committee(cfg, log=lambda s: None)


def _members(out) -> dict:
    return {
        f.name: torch.load(f, weights_only=False) for f in sorted((out / "members").glob("*.pt"))
    }


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_candidates_fine_tuned_as_executor_tasks_equal_the_serial_ones(
    committee, tmp_path, capsys, executor
):
    from budgetnas.cli.main import main

    if executor == "ray":
        pytest.importorskip("ray")
    out, res, argv = committee
    at = argv.index("--out") + 1
    other = tmp_path / "c"
    args = [*argv[:at], str(other), *argv[at + 1 : -2], "--jobs", "2", "--executor", executor]
    assert main(args) == 0
    logged = capsys.readouterr()
    assert f"fine-tuning 3 network(s) on {executor}" in logged.err + logged.out
    serial, tasks = _members(out), _members(other)
    assert serial.keys() == tasks.keys() and len(tasks) == len(res["candidates"])
    for name, kept in serial.items():  # the same weights and outputs, bit for bit
        got = tasks[name]
        assert got["accs"] == kept["accs"], name
        assert torch.equal(got["heldout"], kept["heldout"]) and torch.equal(
            got["test"], kept["test"]
        )
        assert all(torch.equal(got["model"][k], v) for k, v in kept["model"].items())
    again = json.loads((other / "committee.json").read_text())
    assert [c["test_acc"] for c in again["candidates"]] == [
        c["test_acc"] for c in res["candidates"]
    ]


def test_executor_settings_are_checked_before_any_work(tmp_path):
    from budgetnas.committee import CommitteeConfig, build_committee

    base = {"run": "r", "out": str(tmp_path), "budgets": ["flops_m<=1"]}
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        build_committee(CommitteeConfig(**base, jobs=0))
    with pytest.raises(ValueError, match="unknown --executor 'dask'"):
        build_committee(CommitteeConfig(**base, executor="dask"))
    with pytest.raises(ValueError, match="--ray-address needs --executor ray"):
        build_committee(CommitteeConfig(**base, ray_address="head:6379"))
