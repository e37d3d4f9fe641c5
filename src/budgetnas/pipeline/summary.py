"""The text of a run directory's ``summary.md``: what was asked, the network, every budget,
accuracies, the predictor, wall times, baselines, plots and how to reload the network.

Each section is a function of the typed :class:`~budgetnas.pipeline.result.RunResult` and the
run's configuration; :func:`summary_markdown` puts them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from budgetnas.pipeline.result import RunResult

__all__ = [
    "BASELINES_JSON",
    "PLOTS",
    "STAGES",
    "UNITS",
    "baseline_table",
    "reload_snippets",
    "run_settings",
    "summary_markdown",
    "unit",
]

UNITS = {
    "latency_ms": "ms",
    "energy_mj": "mJ",
    "params_m": "M parameters",
    "macs_m": "M multiply-adds",
    "flops_m": "M FLOPs",
    "peak_kb": "kB peak activation memory",
}

STAGES = {
    "supernet_s": "supernet (train or reuse)",
    "table_s": "latency table (build or reuse)",
    "predictor_s": "predictor (1 + 255 expectations)",
    "search_s": "search + closed loop",
    "finetune_s": "fine-tuning + test",
    "export_s": "export (TorchScript, ONNX)",
    "pareto_s": "Pareto front (one solver call per limit)",
    "compare_s": "comparison with reference networks",
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


def reload_snippets(result: RunResult) -> dict[str, str]:
    """Python code that loads ``model.pt`` and ``model.onnx`` from the run directory (the working
    directory) and classifies one random input: ``{"torch": code, "onnx": code}``."""
    shape = list(result.export.get("input_shape") or [])
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


def _normalization(result: RunResult) -> str:
    """How real inputs are prepared: from the run's dataset record (earlier results, which have
    none, from the named dataset)."""
    data, rec = result.data, result.dataset
    if rec.get("mean") and rec.get("std"):
        mean, std = tuple(rec["mean"]), tuple(rec["std"])
    else:
        try:
            from budgetnas.data import dataset_info

            if not data or data == "synthetic" or ":" in data:  # no fixed normalization known
                return ""
            info = dataset_info(data)
        except Exception:  # unknown dataset or no torch: say nothing rather than fail
            return ""
        mean, std = tuple(info.mean), tuple(info.std)
    side = rec.get("image_size")
    shape = f" {side}x{side}" if side else ""
    return (
        f" Real inputs are{shape} images scaled to [0, 1] and normalized per channel with "
        f"mean {mean} and std {std}, as in training"
        + (
            "; `preprocessing.json` says so, and output k is class k of `labels.json`."
            if rec
            else "."
        )
    )


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


PLOTS = {
    "accuracy_vs_latency": "plots/accuracy_vs_latency.png",
    "predictor": "plots/predictor.png",
}

#: a run's configuration and the preset it started from (either may be unknown)
Settings = tuple  # (RunConfig | None, str | None)

FILES = {
    "result.json": "everything above, machine-readable",
    "config.toml": "the resolved configuration: `budgetnas run --config config.toml --out NEW` "
    "repeats the run",
    "run_config.json": "the resolved configuration of the run (runs before config.toml)",
    "arch.txt": "the architecture string",
    "model.pt": "the fine-tuned network, TorchScript",
    "model.onnx": "the same network, ONNX",
    "labels.json": "the class names, in the order of the network's outputs",
    "preprocessing.json": "the input shape and normalization the network expects",
    "predictor.json": "the BINAS predictor (coefficients, report)",
    "store.sqlite": "every measurement (predictor expectations, latency table, ...), for resuming",
    "supernet/": "the trained supernet",
    "pareto.json": "`budgetnas pareto` rows",
    BASELINES_JSON: "`budgetnas bench baselines` rows",
}


def run_settings(run_dir: Path) -> Settings:
    """``(configuration, preset)`` of a run directory; ``(None, None)`` when it has none."""
    from budgetnas.pipeline.config import load_run_config

    try:
        return load_run_config(run_dir)
    except (FileNotFoundError, ValueError):
        return None, None


def summary_markdown(
    result: RunResult,
    settings: Settings,
    plots: dict[str, Path],
    skipped: dict[str, str],
    baselines: dict | None = None,
    run_dir: Path | None = None,
) -> str:
    """The text of ``summary.md`` (see :func:`budgetnas.pipeline.report.write_report`)."""
    cfg, preset = settings
    lines = [f"# budgetnas run: {result.data} / {result.space_preset}", ""]
    lines += _asked(result, cfg, preset)
    lines += _data(result.dataset)
    lines += _architecture(result)
    lines += _budgets(result)
    lines += _accuracy(result, cfg)
    lines += _compare(result.compare, result.budgets)
    lines += _pareto(result.pareto)
    lines += _predictor(result.predictor)
    lines += _wall_time(result.wall_s)
    lines += _baselines(baselines)
    lines += _plots(plots, skipped, run_dir)
    lines += _use(result)
    present = [
        (n, d) for n, d in FILES.items() if run_dir is None or (run_dir / n.rstrip("/")).exists()
    ]
    lines += ["## Files", ""] + [f"- `{n}`: {d}" for n, d in present] + [""]
    return "\n".join(lines)


def _asked(result: RunResult, cfg, preset: str | None) -> list[str]:
    canonical = [f"{r.metric}<={r.limit:g}" for r in result.budgets]
    asked = (cfg.budgets if cfg is not None else None) or canonical
    asked_units = ", ".join(
        f"`{r.metric} <= {r.limit:g}` ({unit(r.metric)})" for r in result.budgets
    )
    typed = f" (as typed: {', '.join(f'`{b}`' for b in asked)})" if asked != canonical else ""
    loop = result.closed_loop
    status = "every budget met" if result.ok else "**BUDGET NOT MET**"
    return [
        f"Asked for the most accurate network under every budget: {asked_units}{typed}. "
        f"Solver `{result.solver}`"
        + (f", preset `{preset}`" if preset else "")
        + (f", seed {cfg.train.seed}" if cfg is not None else "")
        + ". Resolved configuration: `config.toml`.",
        "",
        f"**Result: {status}** ({loop.get('message', '')}; "
        f"{len(loop.get('rounds') or [])} closed-loop round(s)). "
        f"Test accuracy **{_num(result.test_acc)}**.",
        "",
    ]


def _data(dataset: dict) -> list[str]:
    """The dataset: shape, class names, split sizes and how the splits were made."""
    if not dataset:
        return []
    kind = "grayscale" if dataset.get("channels") == 1 else "RGB"
    side = dataset.get("image_size")
    classes = dataset.get("classes") or []
    shown = ", ".join(f"`{c}`" for c in classes[:30])
    more = f" and {len(classes) - 30} more" if len(classes) > 30 else ""
    lines = [
        "## Data",
        "",
        f"`{dataset.get('name')}`: {side}x{side} {kind}, {dataset.get('num_classes')} classes"
        + (f" ({shown}{more}; `labels.json` lists them in output order)" if classes else "")
        + f". Splits: {_int(dataset.get('n_train'))} training images (of which "
        f"{_int(dataset.get('n_heldout'))} held out for the search), "
        f"{_int(dataset.get('n_test'))} test images.",
        "",
    ]
    lines += [f"- {note}" for note in dataset.get("notes") or []]
    return lines + ([""] if dataset.get("notes") else [])


def _int(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _architecture(result: RunResult) -> list[str]:
    arch = result.arch
    lines = ["## Found architecture", "", f"`{arch}`", ""]
    try:
        from budgetnas.spaces.mobilenet import MobileNetSpace

        space = MobileNetSpace(preset=result.space_preset)
        a = space.from_string(arch)
        lines += [
            f"{space.count_params(a) / 1e6:.4g} M parameters, {space.count_macs(a) / 1e6:.4g} M "
            f"multiply-adds (space `mobilenet`, preset `{result.space_preset}`).",
            "",
            "| stage | depth | blocks (expansion e, kernel k, squeeze-excite se) |",
            "|---|---|---|",
        ]
        for s, blocks in enumerate(space.stage_blocks(a)):
            lines.append(f"| {s + 1} | {len(blocks)} | {' '.join(str(b) for b in blocks)} |")
    except Exception as exc:  # an unknown preset: the string alone still says it all
        lines.append(f"(stage table unavailable: {exc})")
    return lines


def _budgets(result: RunResult) -> list[str]:
    lines = [
        "",
        "## Budgets",
        "",
        "Predicted: the cost model (analytic counts, or the latency table's sum). Measured: the "
        "extracted network on the table's backend (only for measured metrics). Slack = limit - "
        "measured (or predicted when nothing is measured). Verified: how the value the verdict "
        "rests on is known (counted exactly, predicted by a table, or measured, and where).",
        "",
        "| metric | unit | limit | predicted | measured | slack | ok | verified |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result.budgets:
        how = r.verified + (f" ({r.where})" if r.where else "")
        lines.append(
            f"| {r.metric} | {unit(r.metric)} | {_num(r.limit)} | {_num(r.predicted)} | "
            f"{_num(r.measured)} | {_num(r.slack)} | {_num(r.ok)} | {how} |"
        )
    return lines + _devices(result)


def _devices(result: RunResult) -> list[str]:
    """Per device a budget names: measured there, or predicted with its table's accuracy and
    the kit that would measure it."""
    lines = []
    for name, d in result.devices.items():
        if d.get("measured_ms") is not None:
            lines.append(
                f"- Device `{name}`: the network was measured there ({d['where']}): "
                f"{d['measured_ms']:.4g} ms."
            )
            continue
        v = d.get("verdict")
        accuracy = (
            f"its table predicted {100 * v['within_10pct']:.0f}% of {v['samples']} validation "
            f"networks within +-10% (worst {v['worst_error_pct']:+.1f}%)"
            if v
            else "its table's accuracy there is unknown (no validation networks)"
        )
        lines.append(
            f"- Device `{name}`: **predicted, not measured** ({accuracy}). Measure it: copy "
            f"`{d.get('verify_kit')}` to the device, run `{d.get('measure')}` there, then "
            "`budgetnas verify RUN --measurements measured.json` (a measurement over the budget "
            "tightens it and searches again)."
        )
    return ["", *lines] if lines else []


def _accuracy(result: RunResult, cfg) -> list[str]:
    pa = result.predicted_accuracy
    lines = [
        "",
        "## Accuracy",
        "",
        "| predicted (predictor) | one-shot (held-out) | fine-tuned (held-out) | test |",
        "|---|---|---|---|",
        f"| {_num(pa)} | {_num(result.oneshot_heldout_acc)} "
        f"| {_num(result.finetuned_heldout_acc)} | {_num(result.test_acc)} |",
        "",
    ]
    if pa is not None and not 0.0 <= pa <= 1.0:
        lines += [
            f"The predictor's value {_num(pa)} lies outside [0, 1]: the additive predictor is a "
            "ranking score, and summing its noisy beyond-average contributions over every decision "
            "of a network extrapolates. Judge it by its ranking quality (Kendall tau), not its "
            "value.",
            "",
        ]
    if cfg is not None:
        lines += [
            f"Fine-tuning: {cfg.finetune.epochs} epoch(s) on {cfg.finetune.images or 'all'} "
            "training images, CE + KL from the heaviest path of the supernet.",
            "",
        ]
    return lines


def _compare(rows: list[dict], budgets=()) -> list[str]:
    if not rows:
        return []
    lines = [
        "## Beside reference networks",
        "",
        "The same test images; parameters and FLOPs counted on the input shape; latencies "
        f"measured in one interleaved run ({rows[0].get('latency_where', '')}), so that their "
        "ratio holds even when the machine's speed drifts; the budget verdict above rests on the "
        "closed loop's own measurement.",
        "",
        "| network | test accuracy | M parameters | M FLOPs | latency (ms, measured) | "
        "latency / found | file |",
        "|---|---|---|---|---|---|---|",
    ]
    found = rows[0]["latency_ms"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {_num(r['test_acc'])} | {_num(r['params_m'])} | "
            f"{r['flops_m']:.2f} | {r['latency_ms']:.3f} | {r['latency_ms'] / found:.2f} | "
            f"{_code_cell(r.get('source', ''))} |"
        )
    return [*lines, "", *_remeasured(found, budgets)]


def _remeasured(found_ms: float, budgets) -> list[str]:
    """A plain warning when the comparison's measurement of the found network breaks the latency
    budget that the closed loop's measurement met: the machine's timing noise, said aloud."""
    for r in budgets:
        if r.metric != "latency_ms" or r.measured is None or found_ms <= r.limit:
            continue
        change = 100 * (found_ms / r.measured - 1)
        return [
            f"**Note:** this second measurement of the found network, {found_ms:.3f} ms, is above "
            f"the latency budget of {r.limit:g} ms that the closed loop's measurement "
            f"({r.measured:.3f} ms) met: {change:+.0f}% between two measurements of the same "
            "network on this machine. For a guarantee that holds under such noise, tighten the "
            "budget by that much or measure on a quiet machine.",
            "",
        ]
    return []


def _pareto(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = [
        "## Pareto front (`--pareto`)",
        "",
        "The best network the predictor finds under each limit, with the run's other budgets; "
        "one solver call each (its time in the last column). Predicted values: these networks "
        "were not fine-tuned or measured; `budgetnas run` with that budget does both.",
        "",
        "| limit | predicted accuracy | costs (predicted) | architecture | solver ms |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {_num(r['limit'])} | infeasible | {r['error']} | | |")
            continue
        costs = ", ".join(
            f"{b['metric']} {_num(b.get('predicted', b.get('value')))}" for b in r["budgets"]
        )
        lines.append(
            f"| {_num(r['limit'])} | {_num(r['predicted_accuracy'])} | {costs} | "
            f"{_code_cell(r['arch'])} | {1e3 * r['solver_wall_s']:.0f} |"
        )
    return [*lines, ""]


def _predictor(pred: dict) -> list[str]:
    lines = ["## Predictor", ""]
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
        lines += _ceiling(pred.get("target_reliability"))
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
    return lines


def _ceiling(rel: dict | None) -> list[str]:
    if rel and "unavailable" in rel:
        return ["", f"No noise ceiling for these one-shot accuracies: {rel['unavailable']}."]
    if not rel:
        return []
    from budgetnas.predictors.reliability import recalibration_note

    halves = f"{rel['images_per_half'][0]} images each{recalibration_note(rel)}"
    return [
        "",
        f"The one-shot accuracies themselves are noisy: measured on two halves of the "
        f"held-out set ({halves}) they rank the subnets "
        f"alike at Kendall tau {_num(rel['split_half_tau'], 3)}; the whole set's "
        f"reliability is {_num(rel['reliability'], 3)}, so no predictor can expect a "
        f"Kendall tau above about {_num(rel['tau_ceiling'], 3)} against them.",
    ]


def _wall_time(wall: dict[str, float]) -> list[str]:
    lines = ["", "## Wall time", "", "| stage | seconds |", "|---|---|"]
    for key, seconds in wall.items():
        lines.append(f"| {STAGES.get(key, key)} | {seconds:.1f} |")
    if wall:
        lines.append(f"| **total** | **{sum(wall.values()):.1f}** |")
    return [*lines, "", "(A stage reused from this folder counts only its loading time.)", ""]


def _baselines(baselines: dict | None) -> list[str]:
    if not baselines or not baselines.get("rows"):
        return []
    bcfg = baselines.get("config") or {}
    return [
        "## Baselines (`budgetnas bench baselines`)",
        "",
        f"Every network fine-tuned alike ({bcfg.get('finetune_epochs', '?')} epoch(s), "
        f"{bcfg.get('finetune_subset') or 'all'} images); details in `baselines.md`.",
        "",
        baseline_table(baselines["rows"]),
        "",
    ]


def _plots(plots: dict[str, Path], skipped: dict[str, str], run_dir: Path | None) -> list[str]:
    lines = ["## Plots", ""]
    for name, path in plots.items():
        rel = path.relative_to(run_dir) if run_dir is not None else path
        lines += [f"![{name}]({rel.as_posix()})", ""]
    lines += [f"- `{PLOTS[name]}` not drawn: {reason}." for name, reason in skipped.items()]
    return lines + ([""] if skipped else [])


def _use(result: RunResult) -> list[str]:
    export = result.export
    lines = [
        "## Use the network",
        "",
        "From inside this folder. `model.pt` is TorchScript (plain PyTorch loads it, "
        f"max abs difference to the trained network {_num(export.get('torchscript_max_abs_diff'))})"
        f"; `model.onnx` was checked with onnxruntime (max abs difference "
        f"{_num(export.get('max_abs_diff'))})." + _normalization(result),
        "",
    ]
    try:
        for code in reload_snippets(result).values():
            lines += ["```python", code.rstrip("\n"), "```", ""]
    except ValueError as exc:
        lines += [f"(no reload code: {exc})", ""]
    return lines
