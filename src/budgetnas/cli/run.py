"""``budgetnas run``: supernet, predictor, search under hard budgets, closed loop, fine-tuning and
export in one resumable run directory (see :mod:`budgetnas.pipeline.run`)."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="the whole pipeline: train/reuse a supernet, fit the predictor, search, fine-tune, export",
        description="Leaves result.json, arch.txt, model.pt (TorchScript) and model.onnx under OUT. "
        "Every stage is reused from OUT when it is already there, so an interrupted run resumes.",
    )
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist, cifar10 or synthetic")
    p.add_argument("--preset", default="quick", help="run preset: quick (default) or tiny (tests)")
    p.add_argument(
        "--budget",
        action="append",
        required=True,
        help="a hard budget such as 'params_m<=0.3' or 'latency_ms<=2.0' (repeat for several)",
    )
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument(
        "--solver",
        default="milp",
        help="milp, frank-wolfe, evolution, random (on the predictor) or hardcore (Frank-Wolfe on "
        "supernet gradients)",
    )
    p.add_argument(
        "--hardcore-steps", type=int, default=None, help="steps of --solver hardcore (200)"
    )
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $BUDGETNAS_DATA)")
    p.add_argument("--space-preset", default=None, help="override the space preset")
    p.add_argument("--subset", type=int, default=None, help="training images used")
    p.add_argument("--epochs-a", type=int, default=None)
    p.add_argument("--epochs-b", type=int, default=None)
    p.add_argument("--finetune-epochs", type=int, default=None)
    p.add_argument("--max-rounds", type=int, default=None, help="closed-loop rounds (3)")
    p.add_argument(
        "--supernet",
        default=None,
        help="reuse a trained supernet.pt (from `budgetnas train`) instead of training one",
    )
    p.add_argument(
        "--predictor-subset", type=int, default=None, help="held-out images for the predictor"
    )
    p.add_argument(
        "--predictor-batch",
        type=int,
        default=None,
        help="held-out images per random path of the predictor (smaller: more paths)",
    )
    p.add_argument("--bn-batches", type=int, default=None, help="BatchNorm recalibration batches")
    p.add_argument("--oneshot-subnets", type=int, default=None, help="predictor quality report")
    p.add_argument(
        "--oneshot-heldout",
        type=int,
        default=None,
        help="held-out images scoring each quality-report subnet (default: the predictor's)",
    )
    p.add_argument(
        "--predictor-sampling",
        choices=("paired", "independent"),
        default=None,
        help="paths of the predictor's expectations: independent (a stream per expectation, "
        "the default) or paired (the same random paths for every expectation)",
    )
    p.add_argument(
        "--predictor-form",
        choices=("binas", "paths"),
        default=None,
        help="the form searched: paths (least squares on every evaluated path, the default) or "
        "binas (averages of forced decisions); both come from the same evaluations",
    )
    p.add_argument(
        "--rerank",
        type=int,
        default=None,
        help="take the predictor's K best distinct networks under the budgets (milp) and keep the "
        "one with the best one-shot accuracy (1: no re-ranking, the default)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes measuring the predictor's supernet evaluations in parallel (quick preset: 2)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetnas.pipeline.run import RunConfig, run_pipeline

    cfg = RunConfig.from_preset(
        args.preset,
        data=args.data,
        budgets=list(args.budget),
        solver=args.solver,
        hardcore_steps=args.hardcore_steps,
        data_dir=args.data_dir,
        space_preset=args.space_preset,
        subset=args.subset,
        epochs_a=args.epochs_a,
        epochs_b=args.epochs_b,
        finetune_epochs=args.finetune_epochs,
        max_rounds=args.max_rounds,
        oneshot_subnets=args.oneshot_subnets,
        oneshot_heldout=args.oneshot_heldout,
        supernet=args.supernet,
        predictor_subset=args.predictor_subset,
        predictor_batch=args.predictor_batch,
        predictor_sampling=args.predictor_sampling,
        predictor_form=args.predictor_form,
        rerank=args.rerank,
        bn_batches=args.bn_batches,
        threads=args.threads,
        jobs=args.jobs,
        seed=args.seed,
    )
    result = run_pipeline(cfg, args.out)
    summary = {
        k: result[k]
        for k in ("arch", "budgets", "oneshot_heldout_acc", "finetuned_heldout_acc", "test_acc")
    }
    print(json.dumps(summary, default=float), file=sys.stdout)
    return 0
