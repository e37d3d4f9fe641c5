"""The run directory as the product: ``summary.md`` and ``plots/`` of a ``budgetnas run`` folder.

:func:`write_report` (re)writes both from ``result.json`` and ``run_config.json`` (and from
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

UNITS = {
    "latency_ms": "ms",
    "energy_mj": "mJ",
    "params_m": "M parameters",
    "macs_m": "M multiply-adds",
    "flops_m": "M FLOPs",
    "peak_kb": "kB peak activation memory",
}
PLOTS = {
    "accuracy_vs_latency": "plots/accuracy_vs_latency.png",
    "predictor": "plots/predictor.png",
}
STAGES = {
    "supernet_s": "supernet (train or reuse)",
    "table_s": "latency table (build or reuse)",
    "predictor_s": "predictor (1 + 255 expectations)",
    "search_s": "search + closed loop",
    "finetune_s": "fine-tuning + test",
    "export_s": "export (TorchScript, ONNX)",
}
BASELINES_JSON = "baselines.json"


def unit(metric: str) -> str:
    """A readable unit of a canonical metric (``params_m`` -> ``M parameters``)."""
    return UNITS.get(metric, metric.rpartition("_")[2])


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, int | float):
        return f"{value:.{digits}g}"
    return str(value)


def _code_cell(text: str) -> str:
    """Inline code inside a markdown table cell (``|`` escaped so it does not split the cell)."""
    return "`" + text.replace("|", "\\|") + "`"


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


# ---- reload code ----------------------------------------------------------------------------------
def reload_snippets(result: dict) -> dict[str, str]:
    """Python code that loads ``model.pt`` and ``model.onnx`` from the run directory (the working
    directory) and classifies one random input: ``{"torch": code, "onnx": code}``."""
    shape = list(result.get("export", {}).get("input_shape") or [])
    if len(shape) != 4:
        raise ValueError("result.json has no export.input_shape")
    c, h, w = (int(v) for v in shape[1:])
    torch_code = (
        "import torch\n\n"
        'model = torch.jit.load("model.pt")  # TorchScript: no budgetnas needed\n'
        f"logits = model(torch.randn(1, {c}, {h}, {w}))\n"
        "print(logits.shape, logits.argmax(1))\n"
    )
    onnx_code = (
        "import numpy as np\n"
        "import onnxruntime as ort\n\n"
        'session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])\n'
        f"x = np.random.randn(1, {c}, {h}, {w}).astype(np.float32)\n"
        'logits = session.run(None, {"input": x})[0]\n'
        "print(logits.shape, logits.argmax(1))\n"
    )
    return {"torch": torch_code, "onnx": onnx_code}


def _normalization(data: str | None) -> str:
    if not data:
        return ""
    try:
        from budgetnas.data import dataset_info

        info = dataset_info(data) if data != "synthetic" else None
    except Exception:  # unknown dataset or no torch: say nothing rather than fail
        return ""
    if info is None:
        return ""
    return (
        f" Real inputs are {data} images scaled to [0, 1] and normalized per channel with "
        f"mean {tuple(info.mean)} and std {tuple(info.std)}, as in training."
    )


# ---- plots ----------------------------------------------------------------------------------------
def _axis(result: dict) -> tuple[str, float | None]:
    """The x-axis metric of the accuracy plot and the run's limit on it."""
    budgets = result.get("budgets") or []
    for row in budgets:
        if row.get("metric") == "latency_ms":
            return "latency_ms", row.get("limit")
    if budgets:
        return budgets[0]["metric"], budgets[0].get("limit")
    return "latency_ms", None


def _found_x(result: dict, metric: str) -> float | None:
    """The found network's measured value on ``metric`` (predicted for exact counts)."""
    for row in result.get("budgets") or []:
        if row.get("metric") == metric:
            if metric == "latency_ms" or row.get("measured") is not None:
                return row.get("measured")
            return row.get("predicted")
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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


METHOD_STYLE = {
    "found": ("o", "tab:red", "found (predictor + solver)"),
    "uniform": ("s", "tab:blue", "uniform scaling of the heaviest"),
    "random": ("^", "tab:green", "best of random feasible"),
}


def plot_accuracy_vs_cost(result: dict, baselines: list[dict] | None, path: Path) -> str | None:
    """The accuracy plot of the module docstring; returns the reason when it is skipped."""
    metric, limit = _axis(result)
    x = _found_x(result, metric)
    if metric == "latency_ms" and x is None:
        return "no latency measured for the found network"
    y, which = _accuracy(result)
    if x is None or y is None:
        return f"the found network has no {metric} value or no accuracy in result.json"
    plt = _pyplot()
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


def plot_predictor(result: dict, path: Path) -> str | None:
    """Predicted vs one-shot accuracy of the quality report's random subnets (or the reason)."""
    pred = result.get("predictor") or {}
    points = pred.get("quality_points")
    if not points or len(points.get("predicted", [])) < 2:
        return "predictor quality not measured (run with --oneshot-subnets N)"
    plt = _pyplot()
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
    run_dir: str | Path, result: dict, baselines: list[dict] | None = None, log=None
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


def _run_settings(run_dir: Path) -> dict | None:
    """The few settings the summary states (asked budgets, preset, seed, fine-tuning), from the
    run's configuration; None when the directory has none."""
    from budgetnas.pipeline.config import load_run_config

    try:
        cfg, preset = load_run_config(run_dir)
    except (FileNotFoundError, ValueError):
        return None
    return {
        "budgets": cfg.budgets,
        "preset": preset,
        "seed": cfg.train.seed,
        "finetune_epochs": cfg.finetune.epochs,
        "finetune_subset": cfg.finetune.images,
    }


# ---- summary --------------------------------------------------------------------------------------
def baseline_table(rows: list[dict]) -> str:
    """Markdown table of ``budgetnas bench baselines`` rows."""
    head = (
        "| budget | method | measured latency (ms) | budget metric predicted / measured | "
        "one-shot | fine-tuned | test | architecture |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        budget = f"{r['metric']}<={r['limit']:g}"
        if "error" in r:
            lines.append(f"| {budget} | {r['method']} | - | - | - | - | - | {r['error']} |")
            continue
        cost = f"{_num(r.get('predicted'))} / {_num(r.get('measured'))}"
        lines.append(
            f"| {budget} | {r['method']} | {_num(r.get('measured_latency_ms'))} | {cost} | "
            f"{_num(r.get('oneshot_heldout_acc'))} | {_num(r.get('finetuned_heldout_acc'))} | "
            f"{_num(r.get('test_acc'))} | {_code_cell(r['arch'])} |"
        )
    return "\n".join(lines)


def _architecture_section(result: dict) -> list[str]:
    arch = result["arch"]
    lines = ["## Found architecture", "", f"`{arch}`", ""]
    try:
        from budgetnas.spaces.mobilenet import MobileNetSpace

        space = MobileNetSpace(preset=result["space_preset"])
        a = space.from_string(arch)
        lines += [
            f"{space.count_params(a) / 1e6:.4g} M parameters, {space.count_macs(a) / 1e6:.4g} M "
            f"multiply-adds (space `mobilenet`, preset `{result['space_preset']}`).",
            "",
            "| stage | depth | blocks (expansion e, kernel k, squeeze-excite se) |",
            "|---|---|---|",
        ]
        for s, blocks in enumerate(space.stage_blocks(a)):
            lines.append(f"| {s + 1} | {len(blocks)} | {' '.join(str(b) for b in blocks)} |")
    except Exception as exc:  # an unknown preset: the string alone still says it all
        lines.append(f"(stage table unavailable: {exc})")
    return lines


def summary_markdown(
    result: dict,
    config: dict | None,
    plots: dict[str, Path],
    skipped: dict[str, str],
    baselines: dict | None = None,
    run_dir: Path | None = None,
) -> str:
    """The text of ``summary.md`` (see :func:`write_report`)."""
    config = config or {}
    budgets = result.get("budgets") or []
    asked = config.get("budgets") or [f"{r['metric']}<={r['limit']:g}" for r in budgets]
    loop = result.get("closed_loop") or {}
    title = f"# budgetnas run: {result.get('data', '?')} / {result.get('space_preset', '?')}"
    lines = [title, ""]
    asked_units = ", ".join(
        f"`{r['metric']} <= {r['limit']:g}` ({unit(r['metric'])})" for r in budgets
    )
    canonical = [f"{r['metric']}<={r['limit']:g}" for r in budgets]
    typed = f" (as typed: {', '.join(f'`{b}`' for b in asked)})" if asked != canonical else ""
    lines += [
        f"Asked for the most accurate network under every budget: {asked_units}{typed}. "
        f"Solver `{result.get('solver')}`"
        + (f", preset `{config['preset']}`" if config.get("preset") else "")
        + (f", seed {config['seed']}" if "seed" in config else "")
        + ". Resolved configuration: `config.toml`.",
        "",
    ]
    ok = loop.get("ok", all(r.get("ok") for r in budgets))
    status = "every budget met" if ok else "**BUDGET NOT MET**"
    lines += [
        f"**Result: {status}** ({loop.get('message', '')}; "
        f"{len(loop.get('rounds') or [])} closed-loop round(s)). "
        f"Test accuracy **{_num(result.get('test_acc'))}**.",
        "",
    ]
    lines += _architecture_section(result)
    lines += [
        "",
        "## Budgets",
        "",
        "Predicted: the cost model (analytic counts, or the latency table's sum). Measured: the "
        "extracted network on the table's backend (only for measured metrics). Slack = limit - "
        "measured (or predicted when nothing is measured).",
        "",
        "| metric | unit | limit | predicted | measured | slack | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in budgets:
        lines.append(
            f"| {r['metric']} | {unit(r['metric'])} | {_num(r['limit'])} | "
            f"{_num(r.get('predicted'))} | {_num(r.get('measured'))} | {_num(r.get('slack'))} | "
            f"{_num(r.get('ok'))} |"
        )
    lines += [
        "",
        "## Accuracy",
        "",
        "| predicted (predictor) | one-shot (held-out) | fine-tuned (held-out) | test |",
        "|---|---|---|---|",
        f"| {_num(result.get('predicted_accuracy'))} | {_num(result.get('oneshot_heldout_acc'))} "
        f"| {_num(result.get('finetuned_heldout_acc'))} | {_num(result.get('test_acc'))} |",
        "",
    ]
    pa = result.get("predicted_accuracy")
    if pa is not None and not 0.0 <= pa <= 1.0:
        lines += [
            f"The predictor's value {_num(pa)} lies outside [0, 1]: the additive predictor is a "
            "ranking score, and summing its noisy beyond-average contributions over every decision "
            "of a network extrapolates. Judge it by its ranking quality (Kendall tau), not its "
            "value.",
            "",
        ]
    if config.get("finetune_epochs") is not None:
        lines += [
            f"Fine-tuning: {config['finetune_epochs']} epoch(s) on "
            f"{config.get('finetune_subset') or 'all'} training images, CE + KL from the heaviest "
            "path of the supernet.",
            "",
        ]
    pred = result.get("predictor") or {}
    lines += ["## Predictor", ""]
    if "A0" in pred:
        lines.append(f"BINAS predictor, A0 (uniformly random paths) = {_num(pred['A0'])}.")
    q = pred.get("quality")
    if q:
        lines += [
            "",
            f"Quality against the one-shot accuracy of {q['n']} random subnets not used to fit it:",
            "",
            "| form | Kendall tau | Spearman | Pearson | RMSE |",
            "|---|---|---|---|---|",
        ]
        used = pred.get("form", "binas")
        for name, r in (pred.get("quality_by_form") or {used: q}).items():
            label = f"{name} (searched)" if name == used else name
            lines.append(
                f"| {label} | {_num(r['kendall_tau'], 3)} | {_num(r['spearman'], 3)} | "
                f"{_num(r['pearson'], 3)} | {_num(r['rmse'], 3)} |"
            )
        rel = pred.get("target_reliability")
        if rel and "unavailable" in rel:
            lines += ["", f"No noise ceiling for these one-shot accuracies: {rel['unavailable']}."]
        elif rel:
            from budgetnas.predictors.reliability import recalibration_note

            halves = f"{rel['images_per_half'][0]} images each{recalibration_note(rel)}"
            lines += [
                "",
                f"The one-shot accuracies themselves are noisy: measured on two halves of the "
                f"held-out set ({halves}) they rank the subnets "
                f"alike at Kendall tau {_num(rel['split_half_tau'], 3)}; the whole set's "
                f"reliability is {_num(rel['reliability'], 3)}, so no predictor can expect a "
                f"Kendall tau above about {_num(rel['tau_ceiling'], 3)} against them.",
            ]
    else:
        lines.append("Quality not measured in this run (`--oneshot-subnets N` measures it).")
    inter = pred.get("interpretation") or {}
    if inter:
        depth = max(inter, key=lambda s: inter[s]["depth_gain"])
        width = max(inter, key=lambda s: inter[s]["width_gain"])
        lines += [
            "",
            f"Most gain from depth 2->4: {depth} ({inter[depth]['depth_gain']:+.4f}); from "
            f"expansion 3->6: {width} ({inter[width]['width_gain']:+.4f}).",
        ]
    wall = result.get("wall_s") or {}
    lines += ["", "## Wall time", "", "| stage | seconds |", "|---|---|"]
    for key, seconds in wall.items():
        lines.append(f"| {STAGES.get(key, key)} | {seconds:.1f} |")
    if wall:
        lines.append(f"| **total** | **{sum(wall.values()):.1f}** |")
    lines += ["", "(A stage reused from this folder counts only its loading time.)", ""]
    if baselines and baselines.get("rows"):
        bcfg = baselines.get("config") or {}
        lines += [
            "## Baselines (`budgetnas bench baselines`)",
            "",
            f"Every network fine-tuned alike ({bcfg.get('finetune_epochs', '?')} epoch(s), "
            f"{bcfg.get('finetune_subset') or 'all'} images); details in `baselines.md`.",
            "",
            baseline_table(baselines["rows"]),
            "",
        ]
    lines += ["## Plots", ""]
    for name, path in plots.items():
        rel = path.relative_to(run_dir) if run_dir is not None else path
        lines.append(f"![{name}]({rel.as_posix()})")
        lines.append("")
    for name, reason in skipped.items():
        lines.append(f"- `{PLOTS[name]}` not drawn: {reason}.")
    if skipped:
        lines.append("")
    export = result.get("export") or {}
    lines += [
        "## Use the network",
        "",
        "From inside this folder. `model.pt` is TorchScript (plain PyTorch loads it, "
        f"max abs difference to the trained network {_num(export.get('torchscript_max_abs_diff'))})"
        f"; `model.onnx` was checked with onnxruntime (max abs difference "
        f"{_num(export.get('max_abs_diff'))})." + _normalization(result.get("data")),
        "",
    ]
    try:
        snippets = reload_snippets(result)
        for code in snippets.values():
            lines += ["```python", code.rstrip("\n"), "```", ""]
    except ValueError as exc:
        lines += [f"(no reload code: {exc})", ""]
    files = {
        "result.json": "everything above, machine-readable",
        "config.toml": "the resolved configuration: `budgetnas run --config config.toml --out NEW` repeats the run",
        "run_config.json": "the resolved configuration of the run (runs before config.toml)",
        "arch.txt": "the architecture string",
        "model.pt": "the fine-tuned network, TorchScript",
        "model.onnx": "the same network, ONNX",
        "predictor.json": "the BINAS predictor (coefficients, report)",
        "store.sqlite": "every measurement (predictor expectations, latency table, ...), for resuming",
        "supernet/": "the trained supernet",
        "pareto.json": "`budgetnas pareto` rows",
        BASELINES_JSON: "`budgetnas bench baselines` rows",
    }
    present = [
        (n, d) for n, d in files.items() if run_dir is None or (run_dir / n.rstrip("/")).exists()
    ]
    lines += ["## Files", ""] + [f"- `{n}`: {d}" for n, d in present] + [""]
    return "\n".join(lines)


def write_report(run_dir: str | Path, result=None, log=None) -> dict[str, Any]:
    """(Re)write ``summary.md`` and the plots of a run directory; ``result`` (a
    :class:`~budgetnas.pipeline.result.RunResult`) defaults to ``result.json``. Returns
    ``{"summary": path, "plots": {...}, "skipped": {name: reason}}``."""
    from budgetnas.pipeline.result import RunResult

    run_dir = Path(run_dir)
    if result is None:
        result = RunResult.load(run_dir)
    result = result.to_json() if isinstance(result, RunResult) else result
    config = _run_settings(run_dir)
    baselines = _read_json(run_dir / BASELINES_JSON)
    rows = (baselines or {}).get("rows")
    plots, skipped = write_plots(run_dir, result, rows, log=log)
    text = summary_markdown(result, config, plots, skipped, baselines, run_dir)
    out = run_dir / "summary.md"
    out.write_text(text)
    return {"summary": out, "plots": plots, "skipped": skipped}


__all__ = [
    "baseline_table",
    "plot_accuracy_vs_cost",
    "plot_predictor",
    "reload_snippets",
    "summary_markdown",
    "unit",
    "write_plots",
    "write_report",
]
