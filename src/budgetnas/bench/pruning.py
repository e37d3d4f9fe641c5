"""Benchmark: knapsack + Taylor + inner distillation vs torch-pruning's magnitude pruner.

Both methods get the same parent, the same FLOPs budget (``flops_ratio<=r``, counted on the pruned
network), the same training images and the same number of fine-tuning epochs with the same
optimizer; the baseline fine-tunes with cross-entropy (torch-pruning's recipe), ours with inner
distillation. The torch-pruning ratio is found by bisection so its FLOPs meet the same budget.

Registered as the benchmark ``pruning`` (:func:`run`, settings :class:`PruningBenchConfig`) and
``pruning-remeasure`` (:func:`remeasure`: the latency of the saved networks again, interleaved)::

    budgetnas bench pruning --model runs/bench_pruning/base/resnet20_fashion-mnist.pt \
        --data fashion-mnist --ratios 0.5,0.3 --epochs 2 --subset 10000 --eval-subset 2000 \
        --json runs/bench_pruning/bench.json

Progressive knapsack pruning (``ours_prog``) and the fine-tuning are those of ``budgetnas prune``
(:func:`budgetnas.pruning.run.prune_progressively`, :func:`budgetnas.pruning.run.finetune_pruned`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetnas.bench._base import register_benchmark
from budgetnas.config import option
from budgetnas.devices import DEVICE_HELP, PRECISION_HELP, PRECISIONS

__all__ = [
    "VARIANTS",
    "PruningBenchConfig",
    "PruningBenchResult",
    "RemeasureConfig",
    "describe",
    "interleaved_latency",
    "remeasure",
    "run",
    "summary",
    "tp_magnitude_prune",
]

VARIANTS = ("ours", "ours_kl", "ours_no_distill", "ours_prog", "tp_magnitude")


@dataclass
class PruningBenchConfig:
    """Settings of the pruning benchmark (``model`` and ``json`` are required)."""

    model: str | None = option(None, "parent checkpoint (required), as budgetnas prune --model")
    trust_file: bool = option(
        False, "load --model even if it is a pickled nn.Module (as budgetnas prune --trust-file)"
    )
    data: str = option(
        "fashion-mnist",
        "dataset: fashion-mnist, cifar10, synthetic, folder:PATH (an image folder) or arrays:DIR",
    )
    data_dir: str | None = option(None, "folder holding the dataset folders")
    image_size: int | None = option(
        None, "folder data: image side in pixels (none: the most common size in the folder)"
    )
    strict: bool = option(
        False,
        "folder data: a file that cannot be decoded is an error (default: warned and skipped)",
    )
    ratios: list[float] = option([0.5, 0.3], "FLOPs ratios to prune to", flag="ratios", sep=",")
    epochs: int = option(2, "fine-tuning epochs of every method")
    subset: int | None = option(10000, "N training images")
    eval_subset: int | None = option(2000, "N test images")
    batch_size: int = option(128, "batch size of importance, recovery and fine-tuning")
    lr: float = option(0.01, "fine-tuning learning rate")
    gamma: float = option(1.0, "weight of the block-output MSE of ours/ours_kl/ours_prog")
    kl: float = option(0.0, "KL-to-logits weight of ours/ours_prog")
    variants: list[str] = option(
        ["ours", "tp_magnitude"],
        "methods compared; also: ours_no_distill, ours_kl (distillation + KL to the parent's "
        "logits), ours_prog (progressive: --steps knapsack steps with --recover distillation "
        "batches between them, taken from the same fine-tuning total)",
        flag="variants",
        sep=",",
    )
    steps: int = option(4, "knapsack steps of ours_prog")
    calibrate: float | None = option(None, "ours_prog: calibrate_values fraction")
    power: int = option(1, "Taylor: |w g| (1) or (w g)^2 (2)")
    normalize: bool = option(False, "Taylor scores L2-normalised per group")
    recover: int = option(30, "training batches after each step of ours_prog")
    min_keep: float = option(
        0.1, "fraction of every channel group the knapsack must keep (as `prune --min-keep`)"
    )
    seed: int = option(0, "seed of the data subsets, shuffling and initialisation")
    json: str | None = option(None, "output JSON (required), rewritten after every row")
    save_dir: str | None = option(None, "also torch.save every pruned network here")
    device: str = option(
        "auto",
        DEVICE_HELP + "; the fine-tunings and accuracies run there, pruning and latency on the CPU",
    )
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def args(self) -> dict[str, Any]:
        """The settings as the JSON's ``"args"`` (ratios and variants comma-separated, as the
        flags are written)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["ratios"] = ",".join(str(r) for r in self.ratios)
        out["variants"] = ",".join(self.variants)
        return out


@dataclass
class PruningBenchResult:
    """The benchmark's JSON: its settings and one row per (method, ratio), the parent first."""

    args: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"args": self.args, "rows": self.rows}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PruningBenchResult:
        return cls(dict(data.get("args", {})), list(data.get("rows", [])))


def tp_magnitude_prune(parent, example, ratio: float, steps: int = 12):
    """torch-pruning MetaPruner + MagnitudeImportance (L2, uniform per-layer ratio), with the
    pruning ratio bisected so that counted FLOPs <= ``ratio`` x the parent's."""
    import copy

    import torch_pruning as tp

    from budgetnas.costs.modules import count
    from budgetnas.pruning.groups import find_output_layers

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


def describe(net, example, parent_macs: int) -> dict:
    """FLOPs (checked against torch's counter), FLOPs ratio, parameters and latency of ``net``."""
    from budgetnas.costs.modules import count, torch_flops
    from budgetnas.pruning.plan import measure_latency_ms

    c = count(net, example)
    assert 2 * c.macs == torch_flops(net, example)
    return {
        "flops_m": c.flops / 1e6,
        "flops_ratio": c.macs / parent_macs,
        "params_m": c.params / 1e6,
        "latency_ms": measure_latency_ms(net, example, runs=200, warmup=20),
    }


def interleaved_latency(nets: dict, example, rounds: int = 7, runs: int = 100) -> dict[str, float]:
    """Latency (ms, batch 1, 1 thread) of several networks measured in interleaved rounds; the
    minimum over rounds of each round's median, which on a shared machine is the least disturbed
    estimate (every network gets the same chances of a quiet moment)."""
    from budgetnas.pruning.plan import measure_latency_ms

    best = {k: float("inf") for k in nets}
    for _ in range(rounds):
        for k, net in nets.items():
            best[k] = min(best[k], measure_latency_ms(net, example, runs=runs, warmup=10))
    return best


@dataclass
class RemeasureConfig:
    """Settings of :func:`remeasure` (``json`` and ``parent`` are required)."""

    json: str | None = option(None, "a pruning benchmark's JSON (required), updated in place")
    parent: str | None = option(None, "the parent checkpoint the benchmark pruned (required)")
    input: str = option("1,28,28", "input shape C,H,W")
    trust_file: bool = option(
        False,
        "load the saved networks (pickled nn.Modules, see --save-dir) and a pickled --parent: "
        "unpickling runs any code a file holds, so only for files you made or trust",
    )


def _remeasure_summary(lat: dict[str, float]) -> str:
    return json.dumps(lat, indent=2)


@register_benchmark(
    "pruning-remeasure",
    "re-measure the latency of a pruning benchmark's saved networks, interleaved",
    RemeasureConfig,
    required=("json", "parent"),
    summary=_remeasure_summary,
)
def remeasure(cfg: RemeasureConfig) -> dict[str, float]:
    """Add ``latency_ms_interleaved`` to every row of ``cfg.json`` whose network was saved
    (``--save-dir``) and to the parent's, from :func:`interleaved_latency`; returns the latencies
    by network file (``"parent"`` for the parent)."""
    import torch

    from budgetnas.models.checkpoint import load_network

    if cfg.json is None or cfg.parent is None:
        raise ValueError("remeasure needs --json and --parent")
    torch.set_num_threads(1)
    data = json.loads(Path(cfg.json).read_text())
    example = torch.randn(1, *[int(v) for v in cfg.input.split(",")])
    nets = {"parent": load_network(cfg.parent, trust_file=cfg.trust_file)[0].eval()}
    for row in data["rows"]:
        if "file" in row:
            nets[row["file"]] = load_network(row["file"], trust_file=cfg.trust_file)[0].eval()
    lat = interleaved_latency(nets, example)
    for row in data["rows"]:
        key = "parent" if row["method"] == "parent" else row.get("file")
        if key in lat:
            row["latency_ms_interleaved"] = lat[key]
    Path(cfg.json).write_text(json.dumps(data, indent=2))
    return lat


@dataclass
class _Setup:
    """What every variant shares: the parent, the data, its graph and Taylor scores."""

    parent: Any
    train: Any
    plain: Any
    test_loader: Any
    example: Any
    parent_macs: int
    graph: Any = None
    taylor: Any = None
    runtime: Any = None  # budgetnas.devices.Runtime of the fine-tunings and accuracies


def _setup(cfg: PruningBenchConfig) -> _Setup:
    import torch

    from budgetnas.costs.modules import count
    from budgetnas.data import data_options, get_dataset, make_loader
    from budgetnas.devices import Runtime
    from budgetnas.models.checkpoint import load_network

    runtime = Runtime.resolve(cfg.device, cfg.precision)
    torch.set_num_threads(1)
    parent, _ = load_network(cfg.model, trust_file=cfg.trust_file)
    parent.eval()
    d, options = (cfg.data, "train", cfg.data_dir), data_options(cfg)
    train = get_dataset(*d, augment=True, subset=cfg.subset, seed=cfg.seed, **options)
    plain = get_dataset(*d, subset=cfg.subset, seed=cfg.seed, **options)
    test = get_dataset(
        cfg.data, "test", cfg.data_dir, subset=cfg.eval_subset, seed=cfg.seed, **options
    )
    test_loader = make_loader(test, 256, shuffle=False)
    example = torch.stack([test[0][0], test[1][0]])
    macs = count(parent, example).macs
    return _Setup(parent, train, plain, test_loader, example, macs, runtime=runtime)


def _score(cfg: PruningBenchConfig, s: _Setup) -> None:
    """The parent's channel graph and Taylor scores, shared by the one-shot variants."""
    from budgetnas.data import make_loader
    from budgetnas.pruning.groups import PruningGraph
    from budgetnas.pruning.importance import IMPORTANCES

    s.graph = PruningGraph(s.parent, s.example)
    s.taylor = IMPORTANCES.get("taylor")(
        s.parent,
        s.graph,
        make_loader(s.plain, cfg.batch_size, shuffle=True, seed=cfg.seed),
        num_batches=16,
        power=cfg.power,
        normalize=cfg.normalize,
    )


def _accuracy(net, loader, runtime=None) -> float:
    """:func:`budgetnas.training.evaluate.accuracy` (on ``runtime``'s device, then back on the
    CPU), the network left in the mode it was in (so the saved networks are as before)."""
    from budgetnas.devices import Runtime, on_device
    from budgetnas.training.evaluate import accuracy

    rt = runtime or Runtime.cpu()
    was = net.training
    try:
        with on_device(net, rt.device):
            return accuracy(net, loader, runtime=rt)
    finally:
        net.train(was)


def _progressive(cfg: PruningBenchConfig, s: _Setup, budget):
    """ours_prog: progressive knapsack pruning with distillation recovery between the steps."""
    from budgetnas.data import make_loader
    from budgetnas.pruning.config import FinetuneConfig, SelectionConfig
    from budgetnas.pruning.run import prune_progressively

    selection = SelectionConfig(
        importance="taylor",
        batches=16,
        solver="dp",
        min_keep=cfg.min_keep,
        steps=cfg.steps,
        calibrate=cfg.calibrate,
    )
    out = prune_progressively(
        s.parent,
        s.example,
        budget,
        s.graph,
        make_loader(s.plain, cfg.batch_size, shuffle=True, seed=cfg.seed),
        make_loader(s.train, cfg.batch_size, shuffle=True, seed=cfg.seed + 1),
        selection,
        FinetuneConfig(lr=cfg.lr, gamma=cfg.gamma, kl=cfg.kl),
        cfg.recover,
        log=print,
        importance_kwargs={"power": cfg.power, "normalize": cfg.normalize},
    )
    return out.model, s.parent, cfg.gamma


def _prune_variant(cfg: PruningBenchConfig, s: _Setup, variant: str, ratio: float, budget):
    """``(network, teacher, gamma, kl)`` of one variant at one ratio, before fine-tuning."""
    from budgetnas.pruning.pipeline import prune_to_budget

    kl = cfg.kl if variant in ("ours", "ours_prog") else 0.0
    if variant in ("ours", "ours_kl", "ours_no_distill"):
        net = prune_to_budget(
            s.parent, s.example, budget, s.taylor, s.graph, min_keep_ratio=cfg.min_keep
        ).model
        teacher, gamma = (s.parent, cfg.gamma) if variant != "ours_no_distill" else (None, 0.0)
        kl = 1.0 if variant == "ours_kl" else kl
    elif variant == "ours_prog":
        net, teacher, gamma = _progressive(cfg, s, budget)
    else:  # tp_magnitude
        net, teacher, gamma = tp_magnitude_prune(s.parent, s.example, ratio), None, 0.0
    return net, teacher, gamma, kl


def _row(cfg: PruningBenchConfig, s: _Setup, variant: str, ratio: float) -> dict:
    """Prune, fine-tune and measure one variant at one ratio (saving it under ``save_dir``)."""
    import torch

    from budgetnas.data import make_loader
    from budgetnas.pruning.run import finetune_pruned
    from budgetnas.units import parse_budget

    budget = parse_budget(f"flops_ratio<={ratio}")
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    net, teacher, gamma, kl = _prune_variant(cfg, s, variant, ratio, budget)
    acc0 = _accuracy(net, s.test_loader, s.runtime)
    # ours_prog's recovery batches count toward the same total
    spent = (cfg.steps - 1) * cfg.recover if variant == "ours_prog" else 0
    loader = make_loader(s.train, cfg.batch_size, shuffle=True, seed=cfg.seed)
    finetune_pruned(
        net, loader, cfg.epochs, spent, teacher, gamma, kl, lr=cfg.lr, runtime=s.runtime
    )
    row = {
        "method": variant,
        "ratio": ratio,
        "accuracy_before_finetune": acc0,
        "accuracy": _accuracy(net, s.test_loader, s.runtime),
        "seconds": round(time.time() - t0, 1),
    } | describe(net, s.example, s.parent_macs)
    assert row["flops_ratio"] <= ratio + 1e-12
    if cfg.save_dir:
        Path(cfg.save_dir).mkdir(parents=True, exist_ok=True)
        tag = f"_keep{cfg.min_keep:g}" if variant.startswith("ours") else ""
        tag += f"_s{cfg.steps}r{cfg.recover}" if variant == "ours_prog" else ""
        tag += f"_seed{cfg.seed}" if cfg.seed else ""
        row["file"] = str(Path(cfg.save_dir) / f"{variant}_{ratio:g}{tag}.pt")
        torch.save(net, row["file"])
    return row


def summary(result: PruningBenchResult) -> str:
    """One line per row: method, ratio, accuracy, FLOPs ratio, parameters, latency."""
    lines = [f"{'method':<16} {'ratio':>5} {'accuracy':>8} {'flops':>6} {'params_m':>8} {'ms':>7}"]
    for r in result.rows:
        lines.append(
            f"{r['method']:<16} {r['ratio']:>5g} {r['accuracy']:>8.4f} {r['flops_ratio']:>6.3f} "
            f"{r['params_m']:>8.4f} {r['latency_ms']:>7.3f}"
        )
    return "\n".join(lines)


@register_benchmark(
    "pruning",
    "knapsack pruning vs torch-pruning's magnitude pruner (see docs/bench/pruning.md)",
    PruningBenchConfig,
    required=("model", "json"),
    summary=summary,
)
def run(cfg: PruningBenchConfig) -> PruningBenchResult:
    """Every variant at every ratio; ``cfg.json`` is rewritten after every row (and each row
    printed), so an interrupted benchmark keeps what it measured."""
    if cfg.model is None or cfg.json is None:
        raise ValueError("the pruning benchmark needs --model and --json")
    from budgetnas.files import check_distinct_outputs

    check_distinct_outputs(json=cfg.json, model=cfg.model)
    unknown = [v for v in cfg.variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]}; known: {', '.join(VARIANTS)}")
    s = _setup(cfg)
    result = PruningBenchResult(cfg.args())
    result.rows.append(
        {
            "method": "parent",
            "ratio": 1.0,
            "accuracy": _accuracy(s.parent, s.test_loader, s.runtime),
        }
        | describe(s.parent, s.example, s.parent_macs)
    )
    print(result.rows[-1], flush=True)
    _score(cfg, s)
    for ratio in cfg.ratios:
        for variant in cfg.variants:
            result.rows.append(_row(cfg, s, variant, ratio))
            print(result.rows[-1], flush=True)
            Path(cfg.json).parent.mkdir(parents=True, exist_ok=True)
            Path(cfg.json).write_text(json.dumps(result.to_json(), indent=2))
    return result


if __name__ == "__main__":  # python -m budgetnas.bench.pruning [remeasure] FLAGS
    import sys

    from budgetnas.cli.main import main

    args = sys.argv[1:]
    name = ["pruning-remeasure", *args[1:]] if args[:1] == ["remeasure"] else ["pruning", *args]
    sys.exit(main(["bench", *name]))
