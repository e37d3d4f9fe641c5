import json
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def _fake_run(path, space, with_quality=True):
    """A run directory as `budgetnas run` leaves it, with a small stand-in network."""
    from budgetnas.export.onnx import export_onnx

    arch = space.from_string("e3k3-e3k3|e4k5se-e3k3|e6k5se-e6k5se-e3k3|e3k3-e3k3|e3k5-e3k3")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    ).eval()
    example = torch.randn(2, 3, 16, 16)
    torch.jit.trace(net, example).save(str(path / "model.pt"))
    onnx = export_onnx(net, example, path / "model.onnx")
    result = {
        "arch": str(arch),
        "space_preset": "tiny",
        "data": "synthetic",
        "solver": "milp",
        "budgets": [
            {
                "metric": "latency_ms",
                "limit": 2.0,
                "solver_limit": 2.0,
                "predicted": 1.7,
                "measured": 1.8,
                "slack": 0.2,
                "ok": True,
            },
            {
                "metric": "params_m",
                "limit": 0.1,
                "solver_limit": 0.1,
                "predicted": 0.08,
                "measured": None,
                "slack": 0.02,
                "ok": True,
            },
        ],
        "closed_loop": {"ok": True, "message": "all budgets met", "rounds": [{}]},
        "predicted_accuracy": 0.5,
        "oneshot_heldout_acc": 0.4,
        "finetuned_heldout_acc": 0.45,
        "test_acc": 0.44,
        "predictor": {"A0": 0.3, "interpretation": {}},
        "export": {"torchscript_max_abs_diff": 0.0, **onnx, "input_shape": [2, 3, 16, 16]},
        "wall_s": {"supernet_s": 1.0, "search_s": 0.1},
    }
    if with_quality:
        result["predictor"]["quality"] = {
            "n": 3,
            "kendall_tau": 0.33,
            "spearman": 0.5,
            "pearson": 0.6,
            "rmse": 0.1,
        }
        result["predictor"]["form"] = "binas"
        result["predictor"]["quality_by_form"] = {
            "binas": result["predictor"]["quality"],
            "paths": {"n": 3, "kendall_tau": 0.71, "spearman": 0.8, "pearson": 0.9, "rmse": 0.05},
        }
        result["predictor"]["target_reliability"] = {
            "n": 3,
            "images_per_half": [250, 250],
            "split_half_tau": 0.52,
            "split_half_pearson": 0.7,
            "reliability": 0.82,
            "tau_ceiling": 0.72,
            "recalibrations": 2,
        }
        result["predictor"]["quality_points"] = {
            "predicted": [0.3, 0.4, 0.5],
            "oneshot": [0.31, 0.42, 0.45],
        }
    (path / "result.json").write_text(json.dumps(result))
    (path / "run_config.json").write_text(
        json.dumps({"budgets": ["latency_us<=2000", "params_m<=0.1"], "preset": "tiny"})
    )
    return result


def test_report_from_result_json(tmp_path, monkeypatch, one_thread):
    from budgetnas.pipeline.report import write_report
    from budgetnas.spaces.mobilenet import MobileNetSpace

    result = _fake_run(tmp_path, MobileNetSpace(preset="tiny"))
    out = write_report(tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert out["summary"] == tmp_path / "summary.md" and not out["skipped"]
    assert result["arch"] in text
    assert "latency_ms" in text and "params_m" in text and "M parameters" in text
    assert "`latency_us<=2000`" in text  # as the user typed it
    assert "| binas (searched) | 0.33" in text and "| paths | 0.71" in text  # Kendall tau by form
    assert "Kendall tau above about 0.72" in text  # its ceiling, and how it was measured
    assert "250 images each, each after its own BatchNorm recalibration" in text
    for name in ("accuracy_vs_latency", "predictor"):
        png = tmp_path / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG
        assert f"plots/{name}.png" in text
    # the reload code in the summary runs as written, from inside the run directory
    blocks = _python_blocks(text)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    for code in blocks:
        scope: dict = {}
        exec(compile(code, "summary.md", "exec"), scope)
        assert tuple(scope["logits"].shape) == (1, 4)


def test_report_says_why_the_noise_ceiling_is_missing(tmp_path):
    from budgetnas.pipeline.report import write_report
    from budgetnas.spaces.mobilenet import MobileNetSpace

    result = _fake_run(tmp_path, MobileNetSpace(preset="tiny"))
    result["predictor"]["target_reliability"] = {"unavailable": "the accuracies do not vary"}
    write_report(tmp_path, result)
    text = (tmp_path / "summary.md").read_text()
    assert "No noise ceiling for these one-shot accuracies: the accuracies do not vary." in text
    assert "Kendall tau above about" not in text


def test_report_skips_plots_without_data_and_never_raises(tmp_path, capsys):
    from budgetnas.pipeline import report
    from budgetnas.spaces.mobilenet import MobileNetSpace

    result = _fake_run(tmp_path, MobileNetSpace(preset="tiny"), with_quality=False)
    result["budgets"][0]["measured"] = None  # a latency budget without a measurement
    out = report.write_report(tmp_path, result, log=print)
    assert set(out["skipped"]) == {"accuracy_vs_latency", "predictor"}
    assert not (tmp_path / "plots" / "predictor.png").exists()
    text = (tmp_path / "summary.md").read_text()
    assert "not drawn: predictor quality not measured" in text
    assert "plot plots/predictor.png skipped" in capsys.readouterr().out
    # a broken plotting library is a skipped plot, not a failed report
    report_pyplot = report.pyplot

    def broken():
        raise RuntimeError("no display")

    report.pyplot = broken
    try:
        result["budgets"][0]["measured"] = 1.8
        out = report.write_report(tmp_path, result, log=lambda m: None)
    finally:
        report.pyplot = report_pyplot
    assert out["skipped"]["accuracy_vs_latency"] == "RuntimeError: no display"


def test_pipeline_logs_a_failing_report(tmp_path, monkeypatch):
    from budgetnas.pipeline import report
    from budgetnas.pipeline.run import Pipeline, RunConfig

    def fail(*a, **k):
        raise KeyError("arch")

    monkeypatch.setattr(report, "write_report", fail)
    said = []
    Pipeline(RunConfig.from_preset("tiny"), tmp_path, log=said.append)._report({})
    assert said and "summary.md not written" in said[0]


@pytest.mark.slow
def test_run_leaves_summary_and_plots(tiny_run, monkeypatch, one_thread):
    out = tiny_run.out
    result = json.loads((out / "result.json").read_text())
    text = (out / "summary.md").read_text()
    assert result["arch"] in text
    for row in result["budgets"]:
        assert f"`{row['metric']} <= {row['limit']:g}`" in text
    for name in ("accuracy_vs_latency", "predictor"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:8] == PNG
    points = result["predictor"]["quality_points"]
    assert len(points["predicted"]) == len(points["oneshot"]) == 6
    monkeypatch.chdir(out)
    for code in _python_blocks(text):
        scope: dict = {}
        exec(compile(code, "summary.md", "exec"), scope)
        assert tuple(scope["logits"].shape) == (1, tiny_run.space.config.num_classes)


def _compare_rows(found_ms: float) -> list[dict]:
    where = "measured here: torch-cpu, 1 thread(s), batch 1"
    common = {"params_m": 0.1, "flops_m": 5.0, "latency_where": where}
    return [
        {
            "name": "found network",
            "source": "this run",
            "test_acc": 0.44,
            "latency_ms": found_ms,
            **common,
        },
        {"name": "ref", "source": "ref.pt", "test_acc": 0.5, "latency_ms": 2 * found_ms, **common},
    ]


@pytest.mark.parametrize("found_ms", [1.9, 2.3])  # within the 2 ms budget / above it
def test_report_compares_and_says_when_a_second_measurement_breaks_the_budget(tmp_path, found_ms):
    from budgetnas.pipeline.report import write_report
    from budgetnas.spaces.mobilenet import MobileNetSpace

    result = _fake_run(tmp_path, MobileNetSpace(preset="tiny"))
    result["compare"] = _compare_rows(found_ms)
    result["pareto"] = [
        {"limit": 0.01, "error": "no network meets it"},
        {
            "limit": 3.0,
            "arch": result["arch"],
            "predicted_accuracy": 0.5,
            "budgets": [{"metric": "latency_ms", "value": 2.5, "predicted": 2.5}],
            "solver_wall_s": 0.05,
        },
    ]
    write_report(tmp_path, result)
    text = (tmp_path / "summary.md").read_text()
    assert "## Beside reference networks" in text
    assert f"| ref | 0.5 | 0.1 | 5.00 | {2 * found_ms:.3f} | 2.00 |" in text
    assert "| 0.01 | infeasible | no network meets it |" in text
    assert "latency_ms 2.5" in text and "| 50 |" in text  # the solver's time in ms
    warned = "is above the latency budget of 2 ms that the closed loop's measurement (1.800 ms)"
    assert (warned in text) == (found_ms > 2.0)
    if found_ms > 2.0:
        assert "+28% between two measurements" in text
