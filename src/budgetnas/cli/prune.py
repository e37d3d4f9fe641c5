"""``budgetnas prune``: knapsack channel pruning to a budget, then inner-distillation fine-tuning.

Writes to ``--out``: ``pruned.pt`` (the whole pruned module, ``torch.load(path,
weights_only=False)``; needs the model's class importable), ``pruned.ts`` (TorchScript trace,
``torch.jit.load(path)``, needs nothing), ``pruned.onnx`` (checked with onnxruntime),
``result.json`` and ``config.json`` (the resolved options).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

FLOPS_NOTE = (
    "FLOPs = 2 x MACs of convolution and linear layers per image (norms, activations, pooling "
    "and adds not counted): the convention of torch.utils.flop_counter, which is cross-checked"
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prune",
        help="prune a trained CNN's channels to a budget and fine-tune it",
        description="Knapsack channel pruning (Taylor importance, groups from torch-pruning's "
        "dependency graph) to a budget on flops/macs/params/latency, real channel removal, then "
        "fine-tuning with inner distillation from the parent.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="checkpoint: budgetnas train-baseline .pt, a "
        "pickled nn.Module, a TorchScript file (traced), or a state dict with --model-class",
    )
    p.add_argument("--model-class", default=None, help="package.module:Class for a state dict")
    p.add_argument("--model-kwargs", default="{}", help="JSON constructor kwargs for --model-class")
    p.add_argument(
        "--budget",
        required=True,
        help="e.g. 'flops_ratio<=0.5', 'params_m<=0.1', "
        "'latency_ms<=2' (CPU, batch 1, 1 thread, measured here)",
    )
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--subset", type=int, default=None, help="N training images for importance and fine-tuning"
    )
    p.add_argument("--eval-subset", type=int, default=None, help="N test images for accuracy")
    p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--importance", choices=["taylor", "magnitude"], default="taylor")
    p.add_argument("--batches", type=int, default=16, help="batches for Taylor importance")
    p.add_argument("--solver", choices=["dp", "milp", "greedy"], default="dp")
    p.add_argument(
        "--gamma", type=float, default=0.1, help="weight of the block-output MSE (0: off)"
    )
    p.add_argument("--kl", type=float, default=1.0, help="weight of KL to the parent's logits")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--min-keep", type=float, default=0.1, help="fraction of each group always kept")
    p.add_argument(
        "--steps",
        type=int,
        default=4,
        help="knapsack steps on a geometric schedule of budgets, importance re-measured before "
        "each (1: one shot)",
    )
    p.add_argument(
        "--recover",
        type=int,
        default=None,
        help="distillation batches after each step but the last, taken from the fine-tuning "
        "total (default: 30, at most a third of that total split over the steps)",
    )
    p.add_argument(
        "--calibrate",
        type=float,
        default=0.5,
        help="rescale each group's scores to the measured loss change of removing this fraction "
        "of it (0: off)",
    )
    p.add_argument("--ignore", action="append", default=[], help="layer name not to prune (repeat)")
    p.add_argument(
        "--output-layer", action="append", default=[], help="layer producing the outputs"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from budgetnas.costs.modules import count, torch_flops
    from budgetnas.data import dataset_info, get_dataset, make_loader
    from budgetnas.export import export_onnx
    from budgetnas.models.checkpoint import load_network
    from budgetnas.pruning.distill import finetune
    from budgetnas.pruning.groups import PruningGraph
    from budgetnas.pruning.importance import IMPORTANCES, calibrate_values
    from budgetnas.pruning.pipeline import kept_widths, prune_to_budget
    from budgetnas.pruning.plan import measure_latency_ms
    from budgetnas.pruning.progressive import (
        distill_recovery,
        progressive_prune,
        remaining_finetuning,
    )
    from budgetnas.training.evaluate import accuracy
    from budgetnas.units import parse_budget

    budget = parse_budget(args.budget)
    if budget.quantity not in ("flops", "macs", "params", "latency", "lat"):
        raise ValueError(
            f"pruning supports budgets on flops, macs, params and latency (CPU, batch 1, "
            f"1 thread), e.g. 'flops_ratio<=0.5'; got {budget.metric!r}"
        )
    try:
        model_kwargs = json.loads(args.model_kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-kwargs is not JSON: {err}") from err
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(vars(args) | {"func": None}, indent=2, default=str))
    log = lambda s: print(s, flush=True)  # noqa: E731

    parent, desc = load_network(args.model, args.model_class, model_kwargs)
    parent.eval()
    info = dataset_info(args.data)
    train = get_dataset(
        args.data, "train", args.data_dir, augment=True, subset=args.subset, seed=args.seed
    )
    plain = get_dataset(
        args.data, "train", args.data_dir, augment=False, subset=args.subset, seed=args.seed
    )
    test = get_dataset(args.data, "test", args.data_dir, subset=args.eval_subset, seed=args.seed)
    test_loader = make_loader(test, 256, shuffle=False)
    example = torch.stack([test[i][0] for i in range(min(2, len(test)))])
    try:
        with torch.no_grad():
            parent(example)
    except Exception as err:
        raise ValueError(
            f"the model does not run on {args.data} images {tuple(example.shape[1:])}: {err}"
        ) from err
    scripted = desc.pop("torchscript", None)
    if scripted is not None:  # rebuilt from TorchScript: it must compute the same
        from budgetnas.models.torchscript import check_equivalent

        desc["rebuilt_max_abs_diff"] = check_equivalent(scripted, parent, example)
        log(
            f"rebuilt {args.model} from TorchScript (max |diff| {desc['rebuilt_max_abs_diff']:.1e})"
        )
    timings = {}
    t = time.time()
    graph = PruningGraph(
        parent, example, ignored=args.ignore, output_layers=args.output_layer or None
    )
    log(f"{len(graph.groups)} channel groups; not pruned: {', '.join(graph.unprunable) or 'none'}")
    train_loader = make_loader(train, args.batch_size, shuffle=True, seed=args.seed)
    score_loader = make_loader(plain, args.batch_size, shuffle=True, seed=args.seed)
    spent = 0  # fine-tuning batches used by recovery between progressive steps
    total = args.epochs * len(train_loader)
    if args.steps < 1:
        raise ValueError("--steps must be >= 1")
    if args.recover is None:
        args.recover = min(30, total // (3 * max(args.steps - 1, 1)))
    calibrate = args.calibrate or None
    if args.steps > 1:
        recover = distill_recovery(
            make_loader(train, args.batch_size, shuffle=True, seed=args.seed + 1),
            args.recover,
            parent,
            gamma=args.gamma,
            kl=args.kl,
            temperature=args.temperature,
            lr=args.lr,
        )
        spent = (args.steps - 1) * args.recover
        if spent > total:
            raise ValueError(
                f"--steps {args.steps} x --recover {args.recover} batches exceed the "
                f"{args.epochs} fine-tuning epoch(s) ({total} batches) they are taken from"
            )
        progressive = progressive_prune(
            parent,
            example,
            budget,
            score_loader,
            steps=args.steps,
            recover=recover if args.recover > 0 else None,
            importance=args.importance,
            calibrate=calibrate,
            num_batches=args.batches,
            method=args.solver,
            min_keep_ratio=args.min_keep,
            ignored=args.ignore,
            output_layers=args.output_layer or None,
            log=log,
            graph=graph,
        )
        net, value, solves = progressive.model, progressive.value, progressive.final.attempts
        parent_value, schedule = progressive.parent_value, progressive.schedule
        timings["prune_progressive_s"] = time.time() - t
    else:
        values = IMPORTANCES.get(args.importance)(
            parent, graph, score_loader, num_batches=args.batches
        )
        if calibrate:
            values = calibrate_values(parent, graph, values, score_loader, fraction=calibrate)
        timings["importance_s"] = time.time() - t
        t = time.time()
        outcome = prune_to_budget(
            parent, example, budget, values, graph, args.solver, args.min_keep
        )
        timings["select_and_remove_s"] = time.time() - t
        net, value, solves = outcome.model, outcome.value, outcome.attempts
        parent_value, schedule = outcome.parent_value, [budget.limit]
    log(f"pruned: {budget.metric} = {value:.6g} (limit {budget.limit:g}) after {solves} solve(s)")

    acc_parent = accuracy(parent, test_loader)
    acc_pruned = accuracy(net, test_loader)
    t = time.time()
    # recovery batches count toward the same fine-tuning total
    ft_loader, ft_epochs = remaining_finetuning(train_loader, args.epochs, spent)
    losses = finetune(
        net,
        ft_loader,
        ft_epochs,
        parent=parent,
        gamma=args.gamma,
        kl=args.kl,
        temperature=args.temperature,
        lr=args.lr,
        log=log,
    )
    timings["finetune_s"] = time.time() - t
    net.eval()
    acc_ft = accuracy(net, test_loader)

    # the budget again, on the fine-tuned network (fine-tuning does not change its shape)
    before, after = count(parent, example), count(net, example)
    counts = {
        "before": before.as_dict() | {"flops_torch_m": torch_flops(parent, example) / 1e6},
        "after": after.as_dict() | {"flops_torch_m": torch_flops(net, example) / 1e6},
        "convention": FLOPS_NOTE,
    }
    latency = {
        "before_ms": measure_latency_ms(parent, example, runs=100),
        "after_ms": measure_latency_ms(net, example, runs=100),
        "how": "median of 100 forward passes, batch 1, 1 CPU thread, torch eager",
    }
    if budget.quantity in ("latency", "lat"):
        again = latency["after_ms"] / (latency["before_ms"] if budget.unit == "ratio" else 1.0)
        latency["budget_value_remeasured"] = again
        latency["budget_met_on_remeasure"] = budget.feasible(again)
        if not budget.feasible(again):
            log(f"warning: re-measured latency {again:.4g} exceeds {budget}; the machine is noisy")
    torch.save(net, out / "pruned.pt")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(net, example[:1]), str(out / "pruned.ts"))
    onnx_check = export_onnx(net, example, out / "pruned.onnx")
    result = {
        "model": str(args.model),
        "source": desc,
        "data": args.data,
        "input_shape": [info.channels, info.image_size, info.image_size],
        "budget": {
            "text": args.budget,
            "metric": budget.metric,
            "limit": budget.limit,
            "value": value,
            "slack": budget.slack(value),
            "feasible": budget.feasible(value),
            "parent_value": parent_value,
            "solves": solves,
        },
        "counts": counts,
        "latency": latency,
        "accuracy": {
            "parent": acc_parent,
            "pruned_before_finetune": acc_pruned,
            "pruned_after_finetune": acc_ft,
            "test_images": len(test),
        },
        "method": {
            "importance": args.importance,
            "solver": args.solver,
            "knapsack_steps": args.steps,
            "calibrate": calibrate,
            "step_limits": schedule,
            "recovery_batches": spent,
            "recovery_batches_per_step": args.recover if args.steps > 1 else 0,
            "distillation": {"gamma": args.gamma, "kl": args.kl, "temperature": args.temperature},
            "finetune_epochs": args.epochs,
            "train_images": len(train),
            "finetune_losses": losses,
        },
        "groups": kept_widths(graph, net),
        "not_pruned": graph.unprunable,
        "unwrapped_parameters_left_alone": graph.unwrapped,
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "files": {
            "pruned.pt": "torch.load(path, weights_only=False) -> nn.Module (class must be importable)",
            "pruned.ts": "torch.jit.load(path) -> TorchScript module",
            "pruned.onnx": f"ONNX, dynamic batch; onnxruntime max |diff| {onnx_check['max_abs_diff']:.2e}",
        },
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    log(
        f"accuracy parent {acc_parent:.4f}, pruned {acc_pruned:.4f}, fine-tuned {acc_ft:.4f}; "
        f"FLOPs {before.flops / 1e6:.2f}M -> {after.flops / 1e6:.2f}M, params "
        f"{before.params / 1e6:.4f}M -> {after.params / 1e6:.4f}M; wrote {out}"
    )
    return 0
