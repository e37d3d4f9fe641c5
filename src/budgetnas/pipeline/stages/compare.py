"""Stage 7: what the found network is worth beside others.

* :func:`pareto_stage`: the best network under each limit of ``cfg.pareto`` (with the run's other
  budgets), one solver call per limit on the run's predictor, each with its solver time;
* :func:`compare_latency` (right after the search) and :func:`compare_stage` (at the end): the
  found network and the reference networks of ``cfg.compare`` (for example the ResNet-20
  baseline) on the same test images, counted the same way, and timed in one interleaved
  measurement on the latency table's protocol (backend, threads, batch, clock, statistic:
  :func:`budgetnas.pipeline.search.measure_networks`, as the closed loop), so that drift of the
  machine hits them alike.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FOUND",
    "compare_latency",
    "compare_stage",
    "pareto_stage",
    "resolve_reference",
]

FOUND = "found network"


def pareto_stage(ctx, form, table=None, devices=None) -> list[dict]:
    """Rows of :func:`budgetnas.pipeline.pareto.pareto` for ``cfg.pareto`` (none when unset);
    ``devices``: the device budgets' tables (metric -> RunDevice)."""
    from budgetnas.pipeline.pareto import pareto, parse_sweep
    from budgetnas.units import parse_budgets

    cfg = ctx.cfg
    if not cfg.pareto:
        return []
    metric, limits = parse_sweep(cfg.pareto)
    fixed = [b.text for b in parse_budgets(cfg.budgets) if b.metric != metric]
    tables = {m: d.table for m, d in (devices or {}).items()}
    if table is not None:
        tables["latency_ms"] = table
    kwargs = {"tables": tables} if tables else {}
    rows = pareto(
        ctx.supernet().space, form, metric, limits, solver=cfg.search.solver, fixed=fixed, **kwargs
    )
    for row in rows:
        if "error" in row:
            ctx.log(f"pareto {metric}<={row['limit']:g}: infeasible")
        else:
            ctx.log(
                f"pareto {metric}<={row['limit']:g}: predicted {100 * row['predicted_accuracy']:.2f}%"
                f" in {1e3 * row['solver_wall_s']:.0f} ms: {row['arch']}"
            )
    return rows


def resolve_reference(text: str) -> Path:
    """The checked file of a reference network: a path, or a registered baseline's name."""
    from budgetnas.hub import get_entry, is_name, resolve_file

    path = Path(text).expanduser()
    if path.exists() or not is_name(text):
        return path
    return resolve_file(get_entry(text, section="baselines"))


def compare_latency(ctx, arch, table=None) -> dict | None:
    """Latency of the found network (extracted as the closed loop measured it) and of every
    reference network, in one interleaved measurement taken right after the search, in the state
    the closed loop measured in (before fine-tuning keeps every core busy); None without
    ``cfg.compare``. Returns ``{"fingerprint", "shape", "ms": {name: ms}, "paths": {name: path},
    "nets": {name: network}}`` (the references loaded once, for :func:`compare_stage`)."""
    from budgetnas.models.checkpoint import load_network
    from budgetnas.pipeline.search import input_shape, measure_networks
    from budgetnas.supernet import extract

    cfg = ctx.cfg
    if not cfg.compare:
        return None
    trained = ctx.supernet()
    fingerprint = table.fingerprint if table is not None else {"backend": "torch-cpu"}
    stat = table.stat if table is not None else "median"  # the closed loop's statistic
    shape = input_shape(trained.space, fingerprint)
    nets, paths = {FOUND: extract(trained.net, arch).eval()}, {FOUND: "this run"}
    for text in cfg.compare:
        path = resolve_reference(text)
        name = text if text not in nets else f"{text} ({path})"
        nets[name], paths[name] = load_network(path)[0].eval(), str(path)
    ms = measure_networks(nets, shape, fingerprint, cfg.search.lut_repeats, stat=stat)
    return {"fingerprint": fingerprint, "shape": shape, "ms": ms, "paths": paths, "nets": nets}


def compare_stage(ctx, child, accs: dict, latency: dict | None) -> list[dict]:
    """One row per network of :func:`compare_latency`: the found one first, then each of
    ``cfg.compare``: test accuracy (the same test images; the found network fine-tuned),
    parameters and FLOPs counted on the input shape, and the latency measured after the search."""
    import torch

    from budgetnas.costs.modules import count
    from budgetnas.devices import cpu_fp32_copy, on_device
    from budgetnas.training.evaluate import accuracy

    if not latency:
        return []
    cfg, trained = ctx.cfg, ctx.supernet()
    c = trained.space.config
    test = ctx.once("test", lambda: trained.batches("test", None, cfg.predictor.batch))
    fp, shape = latency["fingerprint"], latency["shape"]
    where = (
        f"measured here: {fp.get('backend', 'torch-cpu')}, {fp.get('threads', 1)} thread(s), "
        f"batch {shape[0]}"
    )
    example = torch.zeros(1, c.in_channels, c.image_size, c.image_size)
    out = []
    for name, path in latency["paths"].items():
        net = child.eval() if name == FOUND else latency["nets"][name]
        if name == FOUND:
            acc = accs["test_acc"]
        else:  # scored on the run's device, then back on the CPU
            with on_device(net, trained.runtime.device):
                acc = accuracy(net, test, runtime=trained.runtime)
        counts = count(cpu_fp32_copy(net), example).as_dict()  # counted on the CPU
        ms = latency["ms"][name]
        out.append(
            {
                "name": name,
                "source": path,
                "test_acc": acc,
                "params_m": counts["params_m"],
                "flops_m": counts["flops_m"],
                "latency_ms": ms,
                "latency_where": where,
            }
        )
        ctx.log(
            f"{name}: test {100 * acc:.2f}%, {counts['params_m']:.3f}M params, "
            f"{counts['flops_m']:.1f} MFLOPs, {ms:.2f} ms ({where})"
        )
    return out
