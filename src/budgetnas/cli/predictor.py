"""``budgetnas predictor fit``: the BINAS predictor of a trained supernet, its quality against the
one-shot accuracy of random subnets, and a ridge-regression predictor for comparison
(:func:`budgetnas.predictors.fit.fit_predictor`)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["CLI_DEFAULTS", "register", "run"]

# the command's own defaults, over PredictorConfig's (those are the run's): every held-out image,
# a report on 100 subnets, the BINAS form written out
CLI_DEFAULTS = {"heldout": None, "batch": 250, "subnets": 100, "form": "binas"}
RENAME = {"batch": "batch-size"}


def register(subparsers) -> None:
    from budgetnas.cli.command import add_command
    from budgetnas.predictors.fit import PredictorFitConfig

    p = subparsers.add_parser("predictor", help="accuracy predictors on a trained supernet")
    sub = p.add_subparsers(dest="predictor_cmd", required=True)
    add_command(
        sub,
        "fit",
        help="fit the BINAS predictor (1 + 255 expectations, resumable) and report its quality",
        description="Writes OUT/predictor.json (form, report), OUT/predictor_config.toml, "
        "OUT/store.sqlite (every evaluation, so an interrupted fit resumes) and "
        "OUT/predictor_scatter.png.",
        func=run,
        config=PredictorFitConfig,
        flags=_flags,
        rename=RENAME,
        defaults=CLI_DEFAULTS,
    )


def _flags(f: argparse.ArgumentParser) -> None:
    from budgetnas.cli.command import add_supernet_argument

    add_supernet_argument(f)
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--bn-batches", type=int, default=None, help="(the training setting)")
    f.add_argument("--data-dir", default=None)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=1, help="torch threads per process")


def run(args: argparse.Namespace) -> int:
    import torch

    from budgetnas.config import config_from_args, to_toml
    from budgetnas.predictors.fit import PredictorFitConfig, fit_predictor
    from budgetnas.store import Store
    from budgetnas.training.trained import TrainedSupernet

    cfg = config_from_args(PredictorFitConfig, args, CLI_DEFAULTS)
    if cfg.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {cfg.jobs}")
    torch.set_num_threads(args.threads)
    trained = TrainedSupernet.open(
        args.supernet,
        data_dir=args.data_dir,
        bn_batches=args.bn_batches,
        finished=False,
        device=cfg.device,
        precision=cfg.precision,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictor_config.toml").write_text(to_toml(cfg))
    store = Store(out / "store.sqlite")
    # the report's subnets scored in one pass (their stored records' fingerprint), and the
    # BINAS form's other centering reported as well
    result = fit_predictor(
        trained, cfg, store, seed=args.seed, report_passes=1, compare_centers=True
    )
    result.save(out / "predictor.json")
    if result.predictions:
        _scatter(
            out / "predictor_scatter.png", result.quality_points["oneshot"], result.predictions
        )
    _print_result(result)
    return 0


def _print_result(result) -> None:
    reports = result.quality_by_form or {}
    for name in ("binas", "binas_center_a0", "binas_center_depth", "paths", "ridge"):
        if name in reports:
            r = reports[name]
            print(
                f"{name}: Kendall tau {r['kendall_tau']:.3f}, Spearman {r['spearman']:.3f}, "
                f"Pearson {r['pearson']:.3f}, RMSE {r['rmse']:.4f} on {r['n']} random subnets"
            )
    if result.target_reliability is not None:
        print(_ceiling_line(result.target_reliability))
    inter = result.interpretation
    by_depth = sorted(inter, key=lambda s: -inter[s]["depth_gain"])
    by_width = sorted(inter, key=lambda s: -inter[s]["width_gain"])
    print(
        f"A0 {result.intercept:.4f}; gain from depth 2->4, most first: "
        + ", ".join(f"{s} {inter[s]['depth_gain']:+.4f}" for s in by_depth)
    )
    print(
        "gain from expansion 3->6 (blocks 1-2), most first: "
        + ", ".join(f"{s} {inter[s]['width_gain']:+.4f}" for s in by_width)
    )


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
