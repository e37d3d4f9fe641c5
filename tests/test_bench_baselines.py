import dataclasses
import json

import numpy as np
import pytest

from budgetnas.spaces.mobilenet import BlockConfig, MobileNetSpace


def test_uniform_family_is_uniform():
    from budgetnas.bench.baselines import uniform_family

    space = MobileNetSpace(preset="tiny")
    family = uniform_family(space)
    assert len(family) == len({a for _, a in family}) == 36
    assert any(a == space.heaviest() for _, a in family)
    for member, arch in family:
        block = BlockConfig(member["e"], member["k"], member["se"])
        stages = space.stage_blocks(arch)
        assert all(len(blocks) == member["depth"] for blocks in stages)
        assert all(b == block for blocks in stages for b in blocks)


def test_random_feasible_rejects_over_budget():
    from budgetnas.bench.baselines import random_feasible
    from budgetnas.costs.registry import constraint

    space = MobileNetSpace(preset="tiny")
    limit = 0.5 * space.count_params(space.heaviest()) / 1e6
    cons = [constraint(f"params_m<={limit}", space)]
    archs, draws = random_feasible(space, cons, 10, np.random.default_rng(0))
    assert len(archs) == len(set(archs)) == 10 and draws >= 10
    assert all(space.count_params(a) / 1e6 <= limit for a in archs)
    # below the smallest network: nothing, after max_draws samples
    tiny = 0.99 * space.count_params(space.smallest()) / 1e6
    none, draws = random_feasible(
        space, [constraint(f"params_m<={tiny}", space)], 5, np.random.default_rng(0), max_draws=300
    )
    assert none == [] and draws == 300


def test_compare_found_against_best_baseline():
    from budgetnas.bench.baselines import compare

    rows = [
        {"budget": "b1", "method": "found", "test_acc": 0.8},
        {"budget": "b1", "method": "uniform", "test_acc": 0.7},
        {"budget": "b1", "method": "random", "test_acc": 0.75},
        {"budget": "b2", "method": "found", "error": "infeasible"},
        {"budget": "b2", "method": "uniform", "test_acc": 0.6},
    ]
    c = {r["budget"]: r for r in compare(rows)}
    assert c["b1"]["found_minus_best_baseline"] == pytest.approx(0.05)
    assert c["b2"]["found_minus_best_baseline"] is None and c["b2"]["random_test_acc"] is None


def test_bench_command_builds_the_config_from_its_flags(monkeypatch, tmp_path):
    from budgetnas.bench import baselines
    from budgetnas.bench._base import BENCHMARKS
    from budgetnas.cli.main import main

    seen = []
    bench = BENCHMARKS.create("baselines")
    fake = dataclasses.replace(
        bench, run=lambda cfg: seen.append(cfg) or {"rows": []}, summary=lambda result: "table"
    )
    monkeypatch.setitem(BENCHMARKS._entries, "baselines", lambda: fake)
    argv = ["--run", "R", "--budgets", "latency_ms=1,2", "--budgets", "params_m=3", "--seed", "3"]
    assert main(["bench", "baselines", *argv, "--remeasure", "--rerank", "5"]) == 0
    assert seen == [
        baselines.BaselineConfig(
            run="R", budgets=["latency_ms=1,2", "params_m=3"], seed=3, remeasure=True, rerank=5
        )
    ]
    # the same settings from a TOML file; flags win over it
    toml = tmp_path / "b.toml"
    toml.write_text('run = "R"\nbudgets = ["latency_ms=1,2"]\nseed = 4\n')
    assert main(["bench", "baselines", "--config", str(toml), "--seed", "5"]) == 0
    assert seen[-1] == baselines.BaselineConfig(run="R", budgets=["latency_ms=1,2"], seed=5)


def test_bench_command_requires_run_and_budgets(capsys):
    from budgetnas.cli.main import main

    assert main(["bench", "baselines", "--run", "R"]) == 2
    assert "required: --budgets" in capsys.readouterr().err
    assert main(["bench", "baselines", "--budgets", "latency_ms=1"]) == 2
    assert "required: --run" in capsys.readouterr().err


def test_remeasure_measures_each_network_once_per_bench(tmp_path):
    from budgetnas.bench.baselines import LATENCY_KIND, LatencyCache
    from budgetnas.store import Store

    store = Store(tmp_path / "s.sqlite")
    calls = []

    def bench(remeasure):
        measure = lambda arch: calls.append(arch) or 2.0 + len(calls)  # noqa: E731
        return LatencyCache(store, "lut/r3", measure, remeasure)

    first = bench(False)
    assert first.ms("a") == 3.0 and first.ms("a") == 3.0 and calls == ["a"]
    assert bench(False).ms("a") == 3.0 and calls == ["a"]  # stored: reused
    again = bench(True)  # measured anew once, stored, then reused within the bench
    assert again.ms("a") == 4.0 and again.ms("a") == 4.0 and calls == ["a", "a"]
    assert again.ms("b") == 5.0 and calls == ["a", "a", "b"]
    assert store.get(LATENCY_KIND, "lut/r3/a") == {"ms": 4.0}


@pytest.mark.slow
def test_bench_baselines_on_a_tiny_run(tiny_run, one_thread):
    pytest.importorskip("matplotlib")
    from budgetnas.bench.baselines import FINETUNE_KIND, LATENCY_KIND, ONESHOT_KIND
    from budgetnas.cli.main import main
    from budgetnas.store import Store

    out, limit, space = tiny_run.out, tiny_run.limit, tiny_run.space
    argv = ["bench", "baselines", "--run", str(out), "--budgets", f"params_m={limit}"]
    argv += ["--budgets", "latency_ms=1000", "--random-archs", "4", "--latency-repeats", "1"]
    assert main(argv) == 0
    bench = json.loads((out / "baselines.json").read_text())
    rows = bench["rows"]
    assert [(r["metric"], r["method"]) for r in rows] == [
        (m, method) for m in ("params_m", "latency_ms") for method in ("found", "uniform", "random")
    ]
    for r in rows:
        assert "error" not in r, r
        assert r["ok"] and r["predicted"] <= r["limit"] and r["slack"] >= 0
        if r["metric"] == "latency_ms":  # measured on the table's backend, within the budget
            assert r["measured"] == r["measured_latency_ms"] <= r["limit"]
        else:
            assert space.count_params(space.from_string(r["arch"])) / 1e6 <= limit
        assert r["measured_latency_ms"] > 0
        for k in ("oneshot_heldout_acc", "finetuned_heldout_acc", "test_acc"):
            assert 0.0 <= r[k] <= 1.0
    for r in (r for r in rows if r["method"] == "uniform"):
        m = r["detail"]["member"]
        stages = space.stage_blocks(space.from_string(r["arch"]))
        assert {b for blocks in stages for b in blocks} == {BlockConfig(m["e"], m["k"], m["se"])}
        assert {len(blocks) for blocks in stages} == {m["depth"]}
    assert all(r["detail"]["candidates"] == 4 for r in rows if r["method"] == "random")
    # same predictor, same budget, exact solver: the run's own network
    result = json.loads((out / "result.json").read_text())
    assert rows[0]["arch"] == result["arch"]
    assert (out / "plots" / "baselines.png").read_bytes()[:4] == b"\x89PNG"
    assert "found - best baseline" in (out / "baselines.md").read_text()
    assert "## Baselines" in (out / "summary.md").read_text()
    # everything is stored: a second run measures and trains nothing new
    store = Store(out / "store.sqlite")
    counts = {k: len(list(store.items(k))) for k in (ONESHOT_KIND, LATENCY_KIND, FINETUNE_KIND)}
    assert counts[FINETUNE_KIND] == len({r["arch"] for r in rows})
    assert main(argv) == 0
    assert {k: len(list(store.items(k))) for k in counts} == counts
    again = json.loads((out / "baselines.json").read_text())
    assert [r["test_acc"] for r in again["rows"]] == [r["test_acc"] for r in rows]
    # --remeasure: every latency measured again and stored, nothing trained again
    before = dict(store.items(LATENCY_KIND))
    assert main([*argv, "--remeasure"]) == 0
    after = dict(store.items(LATENCY_KIND))
    assert after.keys() == before.keys() and after != before
    assert {k: len(list(store.items(k))) for k in counts} == counts
    remeasured = json.loads((out / "baselines.json").read_text())
    assert remeasured["config"]["remeasure"] is True
    assert [r["test_acc"] for r in remeasured["rows"]] == [r["test_acc"] for r in rows]


def test_finetunings_as_executor_tasks_equal_the_serial_ones(tiny_run, tmp_path, one_thread):
    import shutil

    from budgetnas.bench.baselines import FINETUNE_KIND, BaselineBench, BaselineConfig

    run = tmp_path / "run"  # a copy: the session's run keeps its own store
    shutil.copytree(tiny_run.out, run)
    logged: list[str] = []
    cfg = BaselineConfig(run=str(run), budgets=["params_m=1"], jobs=2)
    bench = BaselineBench(cfg, log=logged.append)
    space = bench.space
    archs = [str(space.smallest()), str(space.heaviest())]
    bench.finetune_on_executor(archs)
    assert any("fine-tuning 2 network(s) on local, 2 worker(s)" in m for m in logged)
    for text in archs:  # the driver stored each result; an in-process fine-tuning gives it again
        stored = bench.store.get(FINETUNE_KIND, bench._finetune_key(text))
        arch = space.from_string(text)
        _, accs = bench.opened.finetune(arch, bench.epochs, bench.subset, evaluator=bench.evaluator)
        assert {k: stored[k] for k in accs} == accs and stored["finetune_s"] > 0
    logged.clear()
    bench.finetune_on_executor(archs)  # everything stored: no task, no worker started
    assert logged == []
