"""``budgetnas predictor fit``: the BINAS predictor of a trained supernet, its quality against the
one-shot accuracy of random subnets, and a ridge-regression predictor for comparison."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("predictor", help="accuracy predictors on a trained supernet")
    sub = p.add_subparsers(dest="predictor_cmd", required=True)
    f = sub.add_parser(
        "fit",
        help="fit the BINAS predictor (1 + 255 expectations, resumable) and report its quality",
        description="Writes OUT/predictor.json (form, report), OUT/store.sqlite (every "
        "evaluation, so an interrupted fit resumes) and OUT/predictor_scatter.png.",
    )
    f.add_argument("--supernet", required=True, help="supernet.pt from `budgetnas train`")
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--heldout", type=int, default=None, help="held-out images used (all)")
    f.add_argument("--batch-size", type=int, default=250, help="held-out batch (one path each)")
    f.add_argument("--bn-batches", type=int, default=None, help="(the training setting)")
    f.add_argument("--passes", type=int, default=1)
    f.add_argument(
        "--sampling",
        choices=("paired", "independent"),
        default="independent",
        help="independent: a random stream of paths per expectation (default); paired: every "
        "expectation draws the same random paths and a forced decision overrides only its own "
        "groups (coefficients are paired differences)",
    )
    f.add_argument("--subnets", type=int, default=100, help="random subnets for the report")
    f.add_argument(
        "--subnet-heldout",
        type=int,
        default=None,
        help="held-out images scoring each report subnet (default: as --heldout); more images, "
        "less noise in the one-shot accuracies the predictor is judged against",
    )
    f.add_argument("--ridge-subnets", type=int, default=0, help="subnets to fit a ridge model on")
    f.add_argument("--data-dir", default=None)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=1, help="torch threads per process")
    f.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes measuring the expectations and report subnets in parallel (each with "
        "--threads threads), sharing the store",
    )
    f.add_argument(
        "--center",
        choices=("depth", "a0"),
        default="depth",
        help="blocks 3-4 relative to E[acc | depth] (default) or to A0 (the literal formula); "
        "the report scores both, from the same evaluations",
    )
    f.set_defaults(func=run)


def _setup(args: argparse.Namespace):
    """``(supernet, evaluator, report evaluator, store)`` of the command line."""
    import torch

    from budgetnas.data import get_dataset, make_loader
    from budgetnas.predictors.supernet import SupernetEvaluator
    from budgetnas.store import Store
    from budgetnas.training.config import TrainConfig
    from budgetnas.training.supernet import _data_kwargs, load_supernet

    torch.set_num_threads(args.threads)
    net, ckpt = load_supernet(args.supernet)
    net.eval()
    tcfg = TrainConfig.from_dict(ckpt["train"])
    kw = {
        "data_dir": args.data_dir or tcfg.data_dir,
        "seed": tcfg.seed,
        **_data_kwargs(tcfg, net.space.config),
    }
    recal_ds = get_dataset(tcfg.data, "search-train", subset=tcfg.subset, **kw)
    held_ds = get_dataset(tcfg.data, "heldout", subset=args.heldout, **kw)
    recal = list(make_loader(recal_ds, tcfg.batch_size, shuffle=True, seed=tcfg.seed))
    held = list(make_loader(held_ds, args.batch_size, shuffle=False))
    bn = tcfg.bn_batches if args.bn_batches is None else args.bn_batches
    ev = SupernetEvaluator(
        net, recal, held, bn, args.passes, seed=args.seed, sampling=args.sampling
    )
    from budgetnas.predictors.reliability import report_batch_size

    sub_ev = None  # the report's subnets (if any): several batches (split-half reliability),
    if args.subnets > 1:  # each half after its own recalibration
        sub_ds = get_dataset(tcfg.data, "heldout", subset=args.subnet_heldout or args.heldout, **kw)
        sub_held = list(make_loader(sub_ds, report_batch_size(len(sub_ds)), shuffle=False))
        sub_ev = SupernetEvaluator(net, recal, sub_held, bn, 1, seed=args.seed, bn_halves=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return net, ev, sub_ev, Store(out / "store.sqlite")


def _shard_setup(args: argparse.Namespace):
    """``(evaluator, report evaluator, store)`` in a worker process of ``--jobs``."""
    return _setup(args)[1:]


def run(args: argparse.Namespace) -> int:
    from budgetnas.predictors import RidgePredictor
    from budgetnas.predictors.paths import paths_predictor
    from budgetnas.predictors.reliability import target_reliability
    from budgetnas.predictors.supernet import (
        BinasPredictor,
        quality_report,
        random_subnet_accuracies,
    )

    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    net, ev, sub_ev, store = _setup(args)
    if args.jobs > 1:
        from functools import partial

        from budgetnas.predictors.parallel import measure_in_processes

        subnets = [(args.subnets, 1)] if args.subnets > 1 else []
        if args.subnets > 1 and args.ridge_subnets > 1:
            subnets.append((args.ridge_subnets, 2))
        measure_in_processes(
            partial(_shard_setup, args), args.jobs, subnets, local=(ev, sub_ev, store)
        )
    space = net.space
    out = Path(args.out)

    def progress(i, n):
        if i % 32 == 0 or i == n:
            print(f"predictor: {i}/{n} expectations", file=sys.stderr)

    def subnet_progress(i, n):
        if i % 10 == 0 or i == n:
            print(f"report: {i}/{n} random subnets", file=sys.stderr)

    pred = BinasPredictor(store=store, progress=progress, center=args.center).fit(ev)
    report: dict = {
        "A0": pred.intercept_,
        "center": args.center,
        "sampling": args.sampling,
        "interpretation": pred.interpretation(),
    }
    if args.subnets > 1:
        archs, accs = random_subnet_accuracies(
            sub_ev, args.subnets, seed=1, store=store, progress=subnet_progress
        )
        binas = pred.predict_archs(archs)
        report["binas"] = quality_report(binas, accs)
        series = {"binas": binas}
        # the other centering costs no evaluation: the same 256 expectations
        other = "a0" if args.center == "depth" else "depth"
        alt = pred.recentered(other)
        report[f"binas_center_{other}"] = quality_report(alt.predict_archs(archs), accs)
        try:  # least squares on the same evaluated paths (predictors.paths): no evaluation
            paths = paths_predictor(pred, store)
        except ValueError as exc:
            print(f"paths: not fitted: {exc}", file=sys.stderr)
        else:
            series["paths"] = paths.predict_archs(archs)
            report["paths"] = quality_report(series["paths"], accs)
            report["paths_alpha"] = paths.alpha_
        if args.ridge_subnets > 1:
            tr_archs, tr_accs = random_subnet_accuracies(
                sub_ev, args.ridge_subnets, seed=2, store=store
            )
            ridge = RidgePredictor(alpha=1.0).fit(space.encode_many(tr_archs), tr_accs)
            series["ridge"] = ridge.predict(space.encode_many(archs))
            report["ridge"] = quality_report(series["ridge"], accs)
        report["target_reliability"] = target_reliability(sub_ev, archs, store)
        _scatter(out / "predictor_scatter.png", accs, series)
    form = pred.quadratic_form()
    payload = {
        **report,
        "const": form.const,
        "linear": form.linear.tolist(),
        "pair_i": form.pair_i.tolist(),
        "pair_j": form.pair_j.tolist(),
        "pair_w": form.pair_w.tolist(),
    }
    (out / "predictor.json").write_text(json.dumps(payload, default=float))
    for name in ("binas", "binas_center_a0", "binas_center_depth", "paths", "ridge"):
        if name in report:
            r = report[name]
            print(
                f"{name}: Kendall tau {r['kendall_tau']:.3f}, Spearman {r['spearman']:.3f}, "
                f"Pearson {r['pearson']:.3f}, RMSE {r['rmse']:.4f} on {r['n']} random subnets"
            )
    if "target_reliability" in report:
        print(_ceiling_line(report["target_reliability"]))
    inter = report["interpretation"]
    by_depth = sorted(inter, key=lambda s: -inter[s]["depth_gain"])
    by_width = sorted(inter, key=lambda s: -inter[s]["width_gain"])
    print(
        f"A0 {pred.intercept_:.4f}; gain from depth 2->4, most first: "
        + ", ".join(f"{s} {inter[s]['depth_gain']:+.4f}" for s in by_depth)
    )
    print(
        "gain from expansion 3->6 (blocks 1-2), most first: "
        + ", ".join(f"{s} {inter[s]['width_gain']:+.4f}" for s in by_width)
    )
    return 0


def _ceiling_line(rel: dict) -> str:
    from budgetnas.predictors.reliability import recalibration_note

    if "unavailable" in rel:
        return f"target: no noise ceiling: {rel['unavailable']}"
    return (
        f"target: the one-shot accuracies agree with themselves at Kendall tau "
        f"{rel['split_half_tau']:.3f} between two halves of the held-out set "
        f"({rel['images_per_half'][0]} images each{recalibration_note(rel)}); reliability "
        f"{rel['reliability']:.3f}, "
        f"so no predictor can expect a Kendall tau above about {rel['tau_ceiling']:.3f}"
    )


def _scatter(path: Path, measured, series: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the plot is optional
        return
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for name, values in series.items():
        ax.scatter(measured, values, s=10, label=name)
    ax.set_xlabel("one-shot accuracy (held-out)")
    ax.set_ylabel("predicted accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
