import json

import numpy as np
import pytest

from budgetnas.cli.main import main
from budgetnas.spaces import get_space


@pytest.fixture
def synthetic_table(tmp_path):
    """A complete synthetic NAS-Bench-201-like table with a non-additive latency column."""
    space = get_space("nb201")
    archs = space.all_archs()
    X = space.encode_many(archs)
    rng = np.random.default_rng(0)
    acc = 80 + X @ rng.normal(size=30) + rng.normal(scale=0.5, size=len(archs))
    lat = 1 + X @ rng.uniform(0, 1, size=30) + rng.uniform(0, 0.5, size=len(archs))
    other = 2 + X @ rng.uniform(0, 1, size=30) + rng.uniform(0, 0.5, size=len(archs))
    path = tmp_path / "table.csv"
    with path.open("w") as fh:
        fh.write("index,arch_str,valid_acc,test_acc,lat_dev_ms,lat_other_ms,note\n")
        for k, a in enumerate(archs):
            fh.write(
                f"{k},{a},{acc[k]:.4f},{acc[k] - 0.3 - 0.3 * X[k, 0]:.4f},{lat[k]:.5f},{other[k]:.5f},x\n"
            )
    return path


def test_bench_end_to_end_on_synthetic_table(synthetic_table, tmp_path, capsys):
    out = tmp_path / "out" / "bench.json"
    argv = [
        "bench",
        "nb201",
        "--table",
        str(synthetic_table),
        "--cost",
        "lat_dev_ms",
        "--budget-quantiles",
        "0.1,0.5",
        "--solvers",
        "iqnas,random,evolution",
        "--queries",
        "25",
        "--seeds",
        "2",
        "--json",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "regret after 25 queries" in printed and "iqnas" in printed
    data = json.loads(out.read_text())
    records = data["records"]
    assert len(records) == 2 * 3 * 2
    keys = {
        "solver",
        "target",
        "cost",
        "budgets",
        "quantile",
        "queries",
        "seed",
        "arch",
        "objective",
        "report",
        "oracle_objective",
        "oracle_report",
        "regret",
        "feasible",
        "wall_s",
    }
    for r in records:
        assert keys <= set(r)
        assert r["feasible"] and r["cost_values"]["lat_dev_ms"] <= r["budgets"]["lat_dev_ms"]
        assert r["regret"] == pytest.approx(r["oracle_objective"] - r["objective"])
        assert r["regret"] >= -1e-9  # the oracle is the best feasible cell
        assert r["queries"] == 25
    assert (out.with_suffix(".png")).stat().st_size > 1000
    # resume: a second run reads every record from the store instead of recomputing
    assert main(argv) == 0
    again = json.loads(out.read_text())["records"]
    assert [r["wall_s"] for r in again] == [r["wall_s"] for r in records]


def test_bench_errors(synthetic_table, tmp_path, capsys):
    base = [
        "bench",
        "nb201",
        "--table",
        str(synthetic_table),
        "--json",
        str(tmp_path / "b.json"),
        "--seeds",
        "1",
        "--queries",
        "5",
        "--no-progress",
    ]
    assert main([*base, "--cost", "lat_pixel3_ms"]) == 2
    assert "no numeric column 'lat_pixel3_ms'" in capsys.readouterr().err
    assert main([*base, "--cost", "lat_dev_ms", "--solvers", "milp"]) == 2
    assert "query-based" in capsys.readouterr().err
    assert main([*base, "--cost", "lat_dev_ms", "--budget-quantiles", "1.5"]) == 2
    assert main(["bench", "nb201", "--table", str(tmp_path / "nope.csv"), "--no-progress"]) == 2
    assert "not found" in capsys.readouterr().err


def test_bench_on_real_nb201(nb201_csv, tmp_path):
    out = tmp_path / "real.json"
    assert (
        main(
            [
                "bench",
                "nb201",
                "--table",
                str(nb201_csv),
                "--cost",
                "lat_raspi4_ms,lat_fpga_ms",
                "--budget-quantiles",
                "0.25",
                "--solvers",
                "iqnas,random",
                "--queries",
                "30",
                "--seeds",
                "1",
                "--json",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    records = json.loads(out.read_text())["records"]
    assert len(records) == 4 and all(r["feasible"] for r in records)
    assert all(r["oracle_objective"] <= 91.61 + 1e-6 for r in records)


def _bench_argv(table, out, *extra):
    return [
        "bench",
        "nb201",
        "--table",
        str(table),
        "--cost",
        "lat_dev_ms",
        "--budget-quantiles",
        "0.5",
        "--solvers",
        "random",
        "--queries",
        "10",
        "--seeds",
        "2",
        "--json",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_changed_report_recomputes_the_records(synthetic_table, tmp_path):
    """The stored records are keyed by every setting that changes them: a new --report (or
    --queries) on the same store is never answered with the old records."""
    from budgetnas.spaces.table import Table

    table = Table.from_csv(synthetic_table, get_space("nb201"))
    out = tmp_path / "b.json"
    assert main(_bench_argv(synthetic_table, out)) == 0
    first = json.loads(out.read_text())["records"]
    assert main(_bench_argv(synthetic_table, out, "--report", "valid_acc")) == 0
    second = json.loads(out.read_text())["records"]
    for a, b in zip(first, second, strict=True):
        arch = get_space("nb201").from_string(b["arch"])
        assert b["report"] == pytest.approx(table.value("valid_acc", arch))
        assert b["report"] != pytest.approx(a["report"]) or a["arch"] != b["arch"]
    assert main(_bench_argv(synthetic_table, out, "--queries", "3")) == 0
    assert all(r["queries"] == 3 for r in json.loads(out.read_text())["records"])
    assert main(_bench_argv(synthetic_table, out)) == 0  # the first setting: read back
    again = json.loads(out.read_text())["records"]
    assert [r["wall_s"] for r in again] == [r["wall_s"] for r in first]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--plot", "{out}"], "--json and --plot both name"),
        (["--store", "{out}"], "--json and --store both name"),
        (["--plot", "{dir}/s.sqlite", "--store", "{dir}/s.sqlite"], "--plot and --store"),
    ],
)
def test_colliding_outputs_refused_before_any_work(
    synthetic_table, tmp_path, capsys, extra, message
):
    out = tmp_path / "b.json"
    out.write_text("the user's file")
    extra = [e.format(out=out, dir=tmp_path) for e in extra]
    assert main(_bench_argv(synthetic_table, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert out.read_text() == "the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "table.csv"]


def test_json_named_like_the_plot_refused(synthetic_table, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(_bench_argv(synthetic_table, out)) == 2
    assert "--json and --plot both name" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("column", "cell", "message"),
    [
        ("lat_dev_ms", "-0.5", "cost column 'lat_dev_ms', row"),
        ("lat_dev_ms", "inf", "column 'lat_dev_ms', row"),
        ("valid_acc", "nan", "column 'valid_acc', row"),
        ("test_acc", "", "column 'test_acc', row"),
    ],
)
def test_bad_cells_refused_by_the_benchmark(
    synthetic_table, tmp_path, capsys, column, cell, message
):
    lines = synthetic_table.read_text().splitlines()
    head = lines[0].split(",")
    row = lines[5].split(",")
    row[head.index(column)] = cell
    lines[5] = ",".join(row)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    assert main(_bench_argv(bad, tmp_path / "b.json")) == 2
    err = capsys.readouterr().err
    assert message in err and row[1] in err and "bad.csv" in err
    assert not (tmp_path / "b.json").exists()


# ---- the robust protocol ---------------------------------------------------------------------
def _table(path):
    from budgetnas.spaces.table import Table

    return Table.from_csv(path, get_space("nb201"))


def test_pair_budgets_leave_the_asked_share_of_cells(synthetic_table):
    from budgetnas.bench.nb201 import budget_limits

    table = _table(synthetic_table)
    a, b = table.column("lat_dev_ms"), table.column("lat_other_ms")
    (single, share) = budget_limits(table, ["lat_dev_ms"], 0.1)
    assert single["lat_dev_ms"] == pytest.approx(np.quantile(a, 0.1))
    assert share == pytest.approx(np.mean(a <= single["lat_dev_ms"]))
    for q in [0.05, 0.25, 0.75]:
        limits, share = budget_limits(table, ["lat_dev_ms", "lat_other_ms"], q)
        within = np.mean((a <= limits["lat_dev_ms"]) & (b <= limits["lat_other_ms"]))
        assert share == pytest.approx(within)
        assert q <= share <= q + 0.01  # the smallest common quantile that leaves q of the cells
        # both budgets bind: each limit alone would leave more cells
        assert np.mean(a <= limits["lat_dev_ms"]) > share
        assert np.mean(b <= limits["lat_other_ms"]) > share


def test_protocol_halves_alternate_singles_and_pairs():
    from budgetnas.bench.nb201 import halves

    cols = ["lat_fpga_ms", "lat_eyeriss_ms", "lat_pixel3_ms", "lat_raspi4_ms"]
    pairs = [f"{a}+{b}" for i, a in enumerate(cols) for b in cols[i + 1 :]]
    half = halves(cols + pairs)
    assert [half[c] for c in cols] == ["tune", "report", "tune", "report"]
    assert [half[p] for p in pairs] == ["tune", "report"] * 3
    assert sum(v == "tune" for v in half.values()) == 5


def test_robust_protocol_end_to_end(synthetic_table, tmp_path, capsys):
    from budgetnas.bench.nb201 import Nb201BenchConfig, apply_protocol, conditions

    cfg = apply_protocol(Nb201BenchConfig(protocol="robust"), _table(synthetic_table))
    assert cfg.objective == ["valid_acc", "test_acc"]
    assert cfg.costs == ["lat_dev_ms", "lat_other_ms", "lat_dev_ms+lat_other_ms"]
    assert cfg.quantiles == [0.05, 0.1, 0.25, 0.5, 0.75]
    assert (cfg.queries, cfg.checkpoints, cfg.seeds) == (200, [25, 50, 100, 200], 10)
    assert len(conditions(cfg)) == 2 * 3 * 5
    report = [c for c in conditions(cfg) if c.half == "report"]
    assert {c.cost for c in report} == {"lat_other_ms"}

    out = tmp_path / "robust.json"
    argv = [
        "bench", "nb201", "--table", str(synthetic_table), "--protocol", "robust",
        "--half", "report", "--solvers", "random,interleaved", "--queries", "20",
        "--checkpoints", "5,10,20", "--seeds", "2", "--json", str(out), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "half 'report': 10 conditions" in printed and "losses" in printed
    data = json.loads(out.read_text())
    records = data["records"]
    assert len(records) == 2 * 5 * 2 * 2  # targets x quantiles x solvers x seeds
    for r in records:
        assert r["half"] == "report" and r["cost"] == "lat_other_ms"
        at = r["regret_at"]
        assert at["20"] == pytest.approx(r["regret"])
        assert at["5"] >= at["10"] >= at["20"] >= -1e-9  # the best so far only improves
        assert r["feasible"] and r["feasible_at"]
        assert r["wall_at"]["5"] <= r["wall_at"]["20"] <= r["wall_s"]
    (summary,) = data["summary"]["report"][:1]
    assert summary["conditions"] == 10 and data["headline_queries"] == 20
    rand = next(s for s in data["summary"]["report"] if s["solver"] == "random")
    assert rand["losses_to_random"] is None
    assert out.with_suffix(".png").stat().st_size > 1000


def test_loss_to_random_counts_only_beyond_the_standard_error():
    from budgetnas.bench.nb201 import solver_summary

    def row(solver, q, mean, se):
        return {
            "solver": solver, "target": "v", "cost": "c", "quantile": q, "half": "report",
            "regret_at": {"100": mean}, "se_at": {"100": se}, "mean_regret": mean,
            "se_regret": se, "feasible": 1.0, "wall_at": {"100": 0.1}, "mean_wall_s": 0.1,
        }  # fmt: skip

    rows = [
        row("random", 0.1, 0.5, 0.1), row("a", 0.1, 0.55, 0.1),  # loses, within s.e.
        row("random", 0.5, 0.5, 0.01), row("a", 0.5, 0.7, 0.01),  # loses beyond s.e.
        row("random", 0.9, 0.5, 0.1), row("a", 0.9, 0.1, 0.1),  # wins
    ]  # fmt: skip
    a = next(s for s in solver_summary(rows, 100) if s["solver"] == "a")
    assert (a["losses_to_random"], a["losses_beyond_se"]) == (2, 1)
    assert a["worst"] == 0.7 and a["worst_condition"] == "v c q=0.5"
    assert a["mean_regret"] == pytest.approx((0.55 + 0.7 + 0.1) / 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--half", "report"], "--half tune|report needs a --protocol"),
        (["--checkpoints", "5,50"], "checkpoint 50 is not between 1 and --queries"),
        (["--protocol", "strict"], "unknown protocol 'strict'"),
        (["--cost", "lat_dev_ms+lat_dev_ms"], "names a column twice"),
    ],
)
def test_protocol_settings_refused(synthetic_table, tmp_path, capsys, extra, message):
    assert main(_bench_argv(synthetic_table, tmp_path / "b.json", *extra)) == 2
    assert message in capsys.readouterr().err


def test_summaries_of_several_runs_merge(synthetic_table, tmp_path, capsys):
    """Slow solvers run to fewer queries in a JSON of their own; the merged summary keeps one
    record per run and reads every solver at the same query count."""
    from budgetnas.bench.nb201_summary import main as summary_main
    from budgetnas.bench.nb201_summary import merge_records

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["bench", "nb201", "--table", str(synthetic_table), "--cost", "lat_dev_ms",
              "--queries", "20", "--seeds", "2", "--budget-quantiles", "0.25", "--no-progress"]  # fmt: skip
    assert main([*common, "--solvers", "random", "--checkpoints", "10,20", "--json", str(a)]) == 0
    more = ["--solvers", "random,local", "--checkpoints", "5,10", "--json", str(b)]
    assert main([*common, *more]) == 0
    records = merge_records([a, b])
    assert sorted(r["solver"] for r in records) == ["local", "local", "random", "random"]
    capsys.readouterr()
    assert summary_main([str(a), str(b), "--at", "10", "--plot", str(tmp_path / "m.png")]) == 0
    printed = capsys.readouterr().out
    assert "regret after 10 queries" in printed and "local" in printed
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_parallel_scoring_equals_serial(synthetic_table, tmp_path):
    """--jobs 2 scores in two processes (one BLAS thread each), or as 2 Ray tasks at a time, and
    writes the same records."""
    import os

    pytest.importorskip("ray")
    runs = {}
    for jobs, executor in [("1", "local"), ("2", "local"), ("2", "ray")]:
        out = tmp_path / f"j{jobs}{executor}.json"
        argv = _bench_argv(synthetic_table, out, "--jobs", jobs, "--executor", executor)
        argv[argv.index("random")] = "random,interleaved"
        before = os.environ.get("OPENBLAS_NUM_THREADS")
        assert main(argv) == 0
        assert os.environ.get("OPENBLAS_NUM_THREADS") == before  # restored in this process
        runs[jobs, executor] = [
            {k: r[k] for k in ("solver", "seed", "arch", "regret")}
            for r in json.loads(out.read_text())["records"]
        ]
    assert runs["1", "local"] == runs["2", "local"] == runs["2", "ray"]
