"""Benchmark: knapsack + Taylor + inner distillation vs torch-pruning's magnitude pruner.

Both methods get the same parent, the same FLOPs budget (``flops_ratio<=r``, counted on the pruned
network), the same training images and the same number of fine-tuning epochs with the same
optimizer; the baseline fine-tunes with cross-entropy (torch-pruning's recipe), ours with inner
distillation. The torch-pruning ratio is found by bisection so its FLOPs meet the same budget.

    python -m budgetnas.bench.pruning --model runs/bench_pruning/base/resnet20_fashion-mnist.pt \
        --data fashion-mnist --ratios 0.5,0.3 --epochs 2 --subset 10000 --eval-subset 2000 \
        --json runs/bench_pruning/bench.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch import nn

from budgetnas.costs.modules import count, torch_flops
from budgetnas.data import get_dataset, make_loader
from budgetnas.models.checkpoint import load_network
from budgetnas.pruning.distill import finetune
from budgetnas.pruning.groups import PruningGraph, find_output_layers
from budgetnas.pruning.importance import IMPORTANCES
from budgetnas.pruning.pipeline import prune_to_budget
from budgetnas.pruning.plan import measure_latency_ms
from budgetnas.pruning.progressive import distill_recovery, progressive_prune, remaining_finetuning
from budgetnas.training.evaluate import accuracy
from budgetnas.units import parse_budget


def tp_magnitude_prune(
    parent: nn.Module, example: torch.Tensor, ratio: float, steps: int = 12
) -> nn.Module:
    """torch-pruning MetaPruner + MagnitudeImportance (L2, uniform per-layer ratio), with the
    pruning ratio bisected so that counted FLOPs <= ``ratio`` x the parent's."""
    import torch_pruning as tp

    full = count(parent, example).macs
    lo, hi, best = 0.0, 0.99, None
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        net = copy.deepcopy(parent)
        pruner = tp.pruner.MetaPruner(
            net,
            example[:1],
            importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=mid,
            ignored_layers=[dict(net.named_modules())[n] for n in find_output_layers(net, example)],
        )
        pruner.step()
        if count(net, example).macs <= ratio * full:
            best, hi = net, mid
        else:
            lo = mid
    if best is None:
        raise RuntimeError("torch-pruning could not reach the budget")
    return best


def _progressive(parent, example, budget, plain, train, graph, args):
    """ours_prog: progressive knapsack pruning with distillation recovery between the steps."""
    recover = distill_recovery(
        make_loader(train, args.batch_size, shuffle=True, seed=args.seed + 1),
        args.recover,
        parent,
        gamma=args.gamma,
        kl=args.kl,
        lr=args.lr,
    )
    out = progressive_prune(
        parent,
        example,
        budget,
        make_loader(plain, args.batch_size, shuffle=True, seed=args.seed),
        steps=args.steps,
        recover=recover,
        min_keep_ratio=args.min_keep,
        importance_kwargs={"power": args.power, "normalize": args.normalize},
        calibrate=args.calibrate,
        log=print,
        graph=graph,
    )
    return out.model, parent, args.gamma


def describe(net: nn.Module, example: torch.Tensor, parent_macs: int) -> dict:
    c = count(net, example)
    assert 2 * c.macs == torch_flops(net, example)
    return {
        "flops_m": c.flops / 1e6,
        "flops_ratio": c.macs / parent_macs,
        "params_m": c.params / 1e6,
        "latency_ms": measure_latency_ms(net, example, runs=200, warmup=20),
    }


def interleaved_latency(
    nets: dict[str, nn.Module], example: torch.Tensor, rounds: int = 7, runs: int = 100
) -> dict[str, float]:
    """Latency (ms, batch 1, 1 thread) of several networks measured in interleaved rounds; the
    minimum over rounds of each round's median, which on a shared machine is the least disturbed
    estimate (every network gets the same chances of a quiet moment)."""
    best = {k: float("inf") for k in nets}
    for _ in range(rounds):
        for k, net in nets.items():
            best[k] = min(best[k], measure_latency_ms(net, example, runs=runs, warmup=10))
    return best


def remeasure(argv: list[str] | None = None) -> int:
    """``python -c 'from budgetnas.bench.pruning import remeasure; remeasure()' --json J``:
    re-measure the latency of the saved networks of a bench JSON, interleaved."""
    p = argparse.ArgumentParser()
    p.add_argument("--json", required=True)
    p.add_argument("--parent", required=True)
    p.add_argument("--input", default="1,28,28")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = json.loads(Path(args.json).read_text())
    example = torch.randn(1, *[int(v) for v in args.input.split(",")])
    nets = {"parent": load_network(args.parent)[0].eval()}
    for row in data["rows"]:
        if "file" in row:
            nets[row["file"]] = torch.load(row["file"], weights_only=False).eval()
    lat = interleaved_latency(nets, example)
    for row in data["rows"]:
        key = "parent" if row["method"] == "parent" else row.get("file")
        if key in lat:
            row["latency_ms_interleaved"] = lat[key]
    Path(args.json).write_text(json.dumps(data, indent=2))
    print(json.dumps(lat, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--ratios", default="0.5,0.3")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subset", type=int, default=10000)
    p.add_argument("--eval-subset", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument("--kl", type=float, default=0.0, help="KL-to-logits weight of ours/ours_prog")
    p.add_argument(
        "--variants",
        default="ours,tp_magnitude",
        help="also: ours_no_distill, ours_kl (distillation + KL to the parent's logits), "
        "ours_prog (progressive: --steps knapsack steps with --recover distillation batches "
        "between them, taken from the same fine-tuning total)",
    )
    p.add_argument("--steps", type=int, default=4, help="knapsack steps of ours_prog")
    p.add_argument(
        "--calibrate", type=float, default=None, help="ours_prog: calibrate_values fraction"
    )
    p.add_argument("--power", type=int, default=1, help="Taylor: |w g| (1) or (w g)^2 (2)")
    p.add_argument("--normalize", action="store_true", help="Taylor scores L2-normalised per group")
    p.add_argument(
        "--recover", type=int, default=30, help="training batches after each step of ours_prog"
    )
    p.add_argument(
        "--min-keep",
        type=float,
        default=0.1,
        help="fraction of every channel group the knapsack must keep (as `prune --min-keep`)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", required=True)
    p.add_argument("--save-dir", default=None, help="also torch.save every pruned network here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    parent, _ = load_network(args.model)
    parent.eval()
    train = get_dataset(
        args.data, "train", args.data_dir, augment=True, subset=args.subset, seed=args.seed
    )
    plain = get_dataset(args.data, "train", args.data_dir, subset=args.subset, seed=args.seed)
    test = get_dataset(args.data, "test", args.data_dir, subset=args.eval_subset, seed=args.seed)
    test_loader = make_loader(test, 256, shuffle=False)
    example = torch.stack([test[0][0], test[1][0]])
    parent_macs = count(parent, example).macs
    rows = [
        {"method": "parent", "ratio": 1.0, "accuracy": accuracy(parent, test_loader)}
        | describe(parent, example, parent_macs)
    ]
    print(rows[-1], flush=True)
    graph = PruningGraph(parent, example)
    taylor = IMPORTANCES.get("taylor")(
        parent,
        graph,
        make_loader(plain, args.batch_size, shuffle=True, seed=args.seed),
        num_batches=16,
        power=args.power,
        normalize=args.normalize,
    )
    variants = args.variants.split(",")
    for ratio in [float(r) for r in args.ratios.split(",")]:
        budget = parse_budget(f"flops_ratio<={ratio}")
        for variant in variants:
            t0 = time.time()
            torch.manual_seed(args.seed)
            kl = args.kl if variant in ("ours", "ours_prog") else 0.0
            if variant in ("ours", "ours_kl", "ours_no_distill"):
                net = prune_to_budget(
                    parent, example, budget, taylor, graph, min_keep_ratio=args.min_keep
                ).model
                teacher, gamma = (
                    (parent, args.gamma) if variant != "ours_no_distill" else (None, 0.0)
                )
                kl = 1.0 if variant == "ours_kl" else kl
            elif variant == "ours_prog":
                net, teacher, gamma = _progressive(
                    parent, example, budget, plain, train, graph, args
                )
            elif variant == "tp_magnitude":
                net, teacher, gamma = tp_magnitude_prune(parent, example, ratio), None, 0.0
            else:
                raise ValueError(f"unknown variant {variant}")
            acc0 = accuracy(net, test_loader)
            # ours_prog's recovery batches count toward the same total
            spent = (args.steps - 1) * args.recover if variant == "ours_prog" else 0
            loader, epochs = remaining_finetuning(
                make_loader(train, args.batch_size, shuffle=True, seed=args.seed),
                args.epochs,
                spent,
            )
            finetune(
                net,
                loader,
                epochs,
                parent=teacher,
                gamma=gamma,
                kl=kl,
                lr=args.lr,
            )
            row = {
                "method": variant,
                "ratio": ratio,
                "accuracy_before_finetune": acc0,
                "accuracy": accuracy(net, test_loader),
                "seconds": round(time.time() - t0, 1),
            } | describe(net, example, parent_macs)
            assert row["flops_ratio"] <= ratio + 1e-12
            if args.save_dir:
                Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                tag = f"_keep{args.min_keep:g}" if variant.startswith("ours") else ""
                tag += f"_s{args.steps}r{args.recover}" if variant == "ours_prog" else ""
                tag += f"_seed{args.seed}" if args.seed else ""
                row["file"] = str(Path(args.save_dir) / f"{variant}_{ratio:g}{tag}.pt")
                torch.save(net, row["file"])
            rows.append(row)
            print(row, flush=True)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
