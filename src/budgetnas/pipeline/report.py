"""The run directory as the product: ``summary.md`` and ``plots/`` of a ``budgetnas run`` folder.

:func:`write_report` (re)writes both from ``result.json`` and ``config.toml`` (and from
``baselines.json`` when ``budgetnas bench baselines`` left one), so a summary can be regenerated for
any finished run::

    from budgetnas.pipeline.report import write_report
    write_report("runs/quick")

Plots (matplotlib, Agg backend):

* ``plots/accuracy_vs_latency.png``: test accuracy of the found network(s) against measured latency
  when a latency budget was given, otherwise against the first budget's metric (e.g. ``params_m``),
  the budget as a vertical line, and the baseline networks of ``baselines.json`` where they have a
  value on that axis;
* ``plots/predictor.png``: predicted against one-shot accuracy of the random subnets of the
  predictor quality report (``--oneshot-subnets``).

A plot without data is skipped with the reason logged (and listed in the summary); a failing plot
never fails the run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from budgetnas.pipeline.result import RunResult
from budgetnas.pipeline.summary import BASELINES_JSON, PLOTS, unit


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


# ---- reload code ----------------------------------------------------------------------------------


# ---- plots ----------------------------------------------------------------------------------------
def _axis(result: RunResult) -> tuple[str, float | None]:
    """The x-axis metric of the accuracy plot and the run's limit on it."""
    for row in result.budgets:
        if row.metric == "latency_ms":
            return "latency_ms", row.limit
    if result.budgets:
        return result.budgets[0].metric, result.budgets[0].limit
    return "latency_ms", None


def _found_x(result: RunResult, metric: str) -> float | None:
    """The found network's measured value on ``metric`` (predicted for exact counts)."""
    for row in result.budgets:
        if row.metric == metric:
            if metric == "latency_ms" or row.measured is not None:
                return row.measured
            return row.predicted
    return None


def _row_x(row: dict, metric: str) -> float | None:
    if metric == "latency_ms" and row.get("measured_latency_ms") is not None:
        return row["measured_latency_ms"]
    return (row.get("costs") or {}).get(metric)


def _accuracy(row: dict) -> tuple[float | None, str]:
    for key, name in (
        ("test_acc", "test"),
        ("finetuned_heldout_acc", "fine-tuned held-out"),
        ("oneshot_heldout_acc", "one-shot held-out"),
    ):
        if row.get(key) is not None:
            return float(row[key]), name
    return None, ""


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


METHOD_STYLE = {
    "found": ("o", "tab:red", "found (predictor + solver)"),
    "uniform": ("s", "tab:blue", "uniform scaling of the heaviest"),
    "random": ("^", "tab:green", "best of random feasible"),
}


def plot_accuracy_vs_cost(
    result: RunResult, baselines: list[dict] | None, path: Path
) -> str | None:
    """The accuracy plot of the module docstring; returns the reason when it is skipped."""
    metric, limit = _axis(result)
    x = _found_x(result, metric)
    if metric == "latency_ms" and x is None:
        return "no latency measured for the found network"
    y, which = _accuracy(result.to_json())
    if x is None or y is None:
        return f"the found network has no {metric} value or no accuracy in result.json"
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    drawn_limits = set()
    for method, (marker, color, label) in METHOD_STYLE.items():
        rows = [r for r in baselines or [] if r.get("method") == method and "error" not in r]
        pts = [(_row_x(r, metric), _accuracy(r)[0]) for r in rows]
        pts = sorted((a, b) for a, b in pts if a is not None and b is not None)
        if pts:
            ax.plot(
                *zip(*pts, strict=True),
                marker=marker,
                color=color,
                ls="none",
                alpha=0.7,
                label=f"bench: {label}",
            )
        for r in rows:
            if r.get("metric") == metric and r.get("limit") not in drawn_limits:
                drawn_limits.add(r.get("limit"))
                ax.axvline(r["limit"], color="0.75", ls=":", lw=0.8)
    ax.scatter([x], [y], s=80, marker="*", color="black", zorder=5, label="this run's network")
    if limit is not None:
        ax.axvline(limit, color="tab:red", ls="--", lw=1.2, label=f"budget {metric}<={limit:g}")
    what = "measured latency (ms)" if metric == "latency_ms" else f"{metric} ({unit(metric)})"
    ax.set_xlabel(what)
    ax.set_ylabel(f"{which} accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def plot_predictor(result: RunResult, path: Path) -> str | None:
    """Predicted vs one-shot accuracy of the quality report's random subnets (or the reason)."""
    pred = result.predictor
    points = pred.get("quality_points")
    if not points or len(points.get("predicted", [])) < 2:
        return "predictor quality not measured (run with --oneshot-subnets N)"
    plt = pyplot()
    p, m = points["predicted"], points["oneshot"]
    q = pred.get("quality") or {}
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(m, p, s=12)
    lo, hi = min(min(p), min(m)), max(max(p), max(m))
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls="--", label="predicted = one-shot")
    ax.set_xlabel("one-shot accuracy (held-out)")
    ax.set_ylabel("predicted accuracy (BINAS)")
    if "kendall_tau" in q:
        ax.set_title(f"{len(p)} random subnets: Kendall tau {q['kendall_tau']:.3f}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def write_plots(
    run_dir: str | Path, result: RunResult, baselines: list[dict] | None = None, log=None
) -> tuple[dict[str, Path], dict[str, str]]:
    """Write the plots; returns ``(written name -> path, skipped name -> reason)``."""
    run_dir = Path(run_dir)
    say = log or (lambda msg: print(msg, file=sys.stderr))
    jobs: dict[str, Callable[[Path], str | None]] = {
        "accuracy_vs_latency": lambda p: plot_accuracy_vs_cost(result, baselines, p),
        "predictor": lambda p: plot_predictor(result, p),
    }
    written, skipped = {}, {}
    for name, job in jobs.items():
        path = run_dir / PLOTS[name]
        try:
            reason = job(path)
        except ImportError as exc:
            reason = f"matplotlib is not available ({exc})"
        except Exception as exc:  # a plot must never fail the run
            reason = f"{type(exc).__name__}: {exc}"
        if reason is None:
            written[name] = path
        else:
            skipped[name] = reason
            say(f"plot {PLOTS[name]} skipped: {reason}")
    return written, skipped


def write_report(run_dir: str | Path, result=None, log=None) -> dict[str, Any]:
    """(Re)write ``summary.md`` and the plots of a run directory; ``result`` (a
    :class:`~budgetnas.pipeline.result.RunResult`, or its JSON) defaults to ``result.json``.
    Returns ``{"summary": path, "plots": {...}, "skipped": {name: reason}}``."""

    run_dir = Path(run_dir)
    if result is None:
        result = RunResult.load(run_dir)
    elif not isinstance(result, RunResult):
        result = RunResult.from_json(result)
    baselines = _read_json(run_dir / BASELINES_JSON)
    rows = (baselines or {}).get("rows")
    plots, skipped = write_plots(run_dir, result, rows, log=log)
    from budgetnas.pipeline.summary import run_settings, summary_markdown

    text = summary_markdown(result, run_settings(run_dir), plots, skipped, baselines, run_dir)
    from budgetnas.files import write_text_atomic

    out = write_text_atomic(run_dir / "summary.md", text)
    return {"summary": out, "plots": plots, "skipped": skipped}


__all__ = [
    "METHOD_STYLE",
    "plot_accuracy_vs_cost",
    "plot_predictor",
    "pyplot",
    "write_plots",
    "write_report",
]
