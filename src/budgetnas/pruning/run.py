"""One pruning run as a library call: :func:`prune` takes a :class:`PruneConfig`, returns a
:class:`PruneResult` and writes the files ``budgetnas prune`` writes (docs/methods/pruning.md).

The workflow: load the parent and the images; trace its channel groups; choose and remove
channels, progressively in ``steps`` knapsack steps with distillation recovery between them
(:func:`prune_progressively`) or in one shot; fine-tune with inner distillation from the parent
(:func:`finetune_pruned`); count, time and export the result. Written to ``out``:

* ``pruned.pt``: the whole pruned module (``torch.load(path, weights_only=False)``; needs the
  model's class importable, and ``--trust-file`` to be pruned again); ``pruned.ts``: a TorchScript trace (``torch.jit.load(path)``);
  ``pruned.onnx``: ONNX, checked with onnxruntime;
* ``result.json`` (:meth:`PruneResult.to_json`); ``config.toml`` (the resolved configuration:
  ``budgetnas prune --config OUT/config.toml`` repeats the run) and ``config.json`` (the same
  settings as one flat dictionary).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetnas.pruning.config import FinetuneConfig, PruneConfig, SelectionConfig
from budgetnas.pruning.result import PruneAccuracy, PrunedBudget, PruneMethod, PruneResult

__all__ = [
    "FLOPS_NOTE",
    "PruneConfig",
    "PruneResult",
    "finetune_pruned",
    "prune",
    "prune_progressively",
]

Log = Callable[[str], None]

FLOPS_NOTE = (
    "FLOPs = 2 x MACs of convolution and linear layers per image (norms, activations, pooling "
    "and adds not counted): the convention of torch.utils.flop_counter, which is cross-checked"
)
_QUANTITIES = ("flops", "macs", "params", "latency", "lat")


def _quiet(_msg: str) -> None:
    pass


@dataclass
class _Images:
    """The datasets of a run and the example input the network is traced on."""

    train: Any  # augmented training images (recovery, fine-tuning)
    plain: Any  # the same images without augmentation (importance)
    test: Any
    test_loader: Any
    example: Any


@dataclass
class _Pruned:
    """The pruned network before fine-tuning and how it was reached."""

    net: Any
    value: float
    solves: int
    parent_value: float
    schedule: list[float]
    spent: int  # fine-tuning batches used by recovery between progressive steps
    recover: int  # recovery batches per step
    timings: dict[str, float] = field(default_factory=dict)


def _check(cfg: PruneConfig):
    """The parsed budget and constructor kwargs; ValueError for what cannot run."""
    from budgetnas.units import parse_budget

    missing = cfg.missing()
    if missing:
        flags = ", ".join("--" + name for name in missing)
        raise ValueError(f"missing required settings: {flags} (or in the --config file)")
    budget = parse_budget(cfg.budget)
    if budget.quantity not in _QUANTITIES:
        raise ValueError(
            f"pruning supports budgets on flops, macs, params and latency (CPU, batch 1, "
            f"1 thread), e.g. 'flops_ratio<=0.5'; got {budget.metric!r}"
        )
    try:
        model_kwargs = json.loads(cfg.model_kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-kwargs is not JSON: {err}") from err
    return budget, model_kwargs


def _write_config(cfg: PruneConfig, out: Path) -> None:
    from budgetnas.config import flat_values, to_toml

    (out / "config.json").write_text(json.dumps(flat_values(cfg), indent=2, default=str))
    (out / "config.toml").write_text(to_toml(cfg))


def _load_images(cfg: PruneConfig) -> _Images:
    import torch

    from budgetnas.data import data_options, get_dataset, make_loader

    d, seed = cfg.dataset, cfg.seed
    kw = {"seed": seed, **data_options(d)}
    train = get_dataset(d.data, "train", d.data_dir, augment=True, subset=d.subset, **kw)
    plain = get_dataset(d.data, "train", d.data_dir, augment=False, subset=d.subset, **kw)
    test = get_dataset(d.data, "test", d.data_dir, subset=d.eval_subset, **kw)
    test_loader = make_loader(test, 256, shuffle=False)
    example = torch.stack([test[i][0] for i in range(min(2, len(test)))])
    return _Images(train, plain, test, test_loader, example)


def _check_parent(cfg: PruneConfig, parent, desc: dict, example, log: Log) -> None:
    """The parent runs on the data's images; one rebuilt from TorchScript computes the same."""
    import torch

    try:
        with torch.no_grad():
            parent(example)
    except Exception as err:
        raise ValueError(
            f"the model does not run on {cfg.dataset.data} images {tuple(example.shape[1:])}: {err}"
        ) from err
    scripted = desc.pop("torchscript", None)
    if scripted is not None:  # rebuilt from TorchScript: it must compute the same
        from budgetnas.models.torchscript import check_equivalent

        desc["rebuilt_max_abs_diff"] = check_equivalent(scripted, parent, example)
        log(f"rebuilt {cfg.model} from TorchScript (max |diff| {desc['rebuilt_max_abs_diff']:.1e})")


def prune_progressively(
    parent,
    example,
    budget,
    graph,
    score_loader,
    recover_loader,
    selection: SelectionConfig,
    finetune: FinetuneConfig,
    recover: int,
    log: Log | None = None,
    importance_kwargs: dict | None = None,
):
    """:func:`~budgetnas.pruning.progressive.progressive_prune` with ``recover`` batches of
    inner-distillation recovery from ``recover_loader`` after every step but the last (none when
    ``recover`` is 0); the importance is scored on ``score_loader``. Returns its outcome."""
    from budgetnas.pruning.progressive import distill_recovery, progressive_prune

    recovery = distill_recovery(
        recover_loader,
        recover,
        parent,
        gamma=finetune.gamma,
        kl=finetune.kl,
        temperature=finetune.temperature,
        lr=finetune.lr,
    )
    return progressive_prune(
        parent,
        example,
        budget,
        score_loader,
        steps=selection.steps,
        recover=recovery if recover > 0 else None,
        importance=selection.importance,
        importance_kwargs=importance_kwargs,
        calibrate=selection.calibrate or None,
        num_batches=selection.batches,
        method=selection.solver,
        min_keep_ratio=selection.min_keep,
        ignored=selection.ignore,
        output_layers=selection.output_layer or None,
        log=log,
        graph=graph,
    )


def _prune_once(
    parent, example, budget, graph, score_loader, sel: SelectionConfig, started: float
) -> _Pruned:
    from budgetnas.pruning.importance import IMPORTANCES, calibrate_values
    from budgetnas.pruning.pipeline import prune_to_budget

    values = IMPORTANCES.get(sel.importance)(parent, graph, score_loader, num_batches=sel.batches)
    if sel.calibrate:
        values = calibrate_values(parent, graph, values, score_loader, fraction=sel.calibrate)
    timings = {"importance_s": time.time() - started}
    t = time.time()
    outcome = prune_to_budget(parent, example, budget, values, graph, sel.solver, sel.min_keep)
    timings["select_and_remove_s"] = time.time() - t
    return _Pruned(
        outcome.model,
        outcome.value,
        outcome.attempts,
        outcome.parent_value,
        [budget.limit],
        0,
        0,
        timings,
    )


def _select(
    cfg: PruneConfig, parent, images: _Images, budget, graph, loaders, started: float, log: Log
) -> _Pruned:
    """Choose and remove channels: progressively (``steps > 1``) or in one knapsack step.
    ``loaders``: the fine-tuning and the importance loaders; ``started``: when the work began."""
    from budgetnas.data import make_loader

    sel, ft = cfg.selection, cfg.finetune
    train_loader, score_loader = loaders
    total = ft.epochs * len(train_loader)
    if sel.steps < 1:
        raise ValueError("--steps must be >= 1")
    recover = ft.recover
    if recover is None:
        recover = min(30, total // (3 * max(sel.steps - 1, 1)))
    if sel.steps == 1:
        return _prune_once(parent, images.example, budget, graph, score_loader, sel, started)
    spent = (sel.steps - 1) * recover
    if spent > total:
        raise ValueError(
            f"--steps {sel.steps} x --recover {recover} batches exceed the "
            f"{ft.epochs} fine-tuning epoch(s) ({total} batches) they are taken from"
        )
    recover_loader = make_loader(
        images.train, cfg.dataset.batch_size, shuffle=True, seed=cfg.seed + 1
    )
    progressive = prune_progressively(
        parent, images.example, budget, graph, score_loader, recover_loader, sel, ft, recover, log
    )
    return _Pruned(
        progressive.model,
        progressive.value,
        progressive.final.attempts,
        progressive.parent_value,
        progressive.schedule,
        spent,
        recover,
        {"prune_progressive_s": time.time() - started},
    )


def finetune_pruned(
    net,
    loader,
    epochs: int,
    spent: int,
    parent=None,
    gamma: float = 1.0,
    kl: float = 0.0,
    temperature: float = 4.0,
    lr: float = 0.01,
    log: Log | None = None,
    runtime=None,
    world=None,
) -> list[float]:
    """Fine-tune ``net`` in place for what is left of ``epochs`` epochs of ``loader`` after the
    ``spent`` recovery batches (the same training total either way); with a ``parent``, by
    inner distillation (:func:`budgetnas.pruning.distill.finetune`), on ``runtime``'s device
    and precision (back on the CPU after). Returns the epoch losses. Under torchrun (``world``
    of more than one process) every rank trains on its share of every batch of ``loader``."""
    from budgetnas.distributed import Sharded
    from budgetnas.pruning.distill import finetune
    from budgetnas.pruning.progressive import remaining_finetuning

    ft_loader, ft_epochs = remaining_finetuning(loader, epochs, spent)
    if world is not None and world.distributed:
        ft_loader = Sharded(ft_loader, world)
    return finetune(
        net,
        ft_loader,
        ft_epochs,
        parent=parent,
        gamma=gamma,
        kl=kl,
        temperature=temperature,
        lr=lr,
        log=log,
        runtime=runtime,
        world=world,
    )


def _measure(parent, net, example, budget, log: Log) -> tuple[dict, dict]:
    """Counts and CPU latency of the parent and the pruned network; a latency budget is checked
    again on the fine-tuned network (fine-tuning does not change its shape)."""
    from budgetnas.costs.modules import count, torch_flops
    from budgetnas.pruning.plan import measure_latency_ms

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
    return counts, latency


def _export(net, example, out: Path) -> dict[str, str]:
    """``pruned.pt``, ``pruned.ts`` and ``pruned.onnx`` in ``out``; what each file is."""
    import warnings

    import torch

    from budgetnas.export import export_onnx

    torch.save(net, out / "pruned.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(net, example[:1]), str(out / "pruned.ts"))
    onnx_check = export_onnx(net, example, out / "pruned.onnx")
    return {
        "pruned.pt": "torch.load(path, weights_only=False) -> nn.Module (class must be importable; "
        "runs code in the file: trusted files only, budgetnas prune needs --trust-file)",
        "pruned.ts": "torch.jit.load(path) -> TorchScript module",
        "pruned.onnx": f"ONNX, dynamic batch; onnxruntime max |diff| {onnx_check['max_abs_diff']:.2e}",
    }


def _prepare(cfg: PruneConfig, log: Log):
    """Checks, seeds, the output folder with the configuration, the parent and the images."""
    import torch

    from budgetnas.data import data_options, dataset_info
    from budgetnas.models.checkpoint import load_network

    budget, model_kwargs = _check(cfg)
    from budgetnas.models.onnx_import import is_onnx

    if is_onnx(cfg.model):
        raise ValueError(
            f"{cfg.model}: an ONNX file's layers cannot be pruned here (its shapes and constants "
            "are fixed in the graph); give the network as TorchScript or a budgetnas checkpoint"
        )
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_config(cfg, out)
    parent, desc = load_network(cfg.model, cfg.model_class, model_kwargs, cfg.trust_file)
    parent.eval()
    info = dataset_info(cfg.dataset.data, **data_options(cfg.dataset))
    images = _load_images(cfg)
    _check_parent(cfg, parent, desc, images.example, log)
    return budget, out, parent, desc, info, images


def prune(config: PruneConfig, log: Log | None = None) -> PruneResult | None:
    """Prune ``config.model`` to ``config.budget``, fine-tune it and write the results to
    ``config.out`` (see the module docstring); ``log`` gets the progress lines.

    Under ``torchrun`` the final fine-tuning is data-parallel: rank 0 prunes alone (its
    choices rest on its own latency measurements, which another rank would measure otherwise),
    sends the pruned network and the training loader's state to the other ranks, and every rank
    fine-tunes on its share of every batch, the gradients averaged at every step. Rank 0 then
    measures, exports and returns the result; the other ranks return ``None``."""
    from budgetnas.devices import Runtime
    from budgetnas.distributed import World

    world = World.from_env()
    runtime = Runtime.resolve(world.device(config.device), config.precision)
    world.start(runtime.device)
    try:
        if not world.main:
            return _follow_finetuning(config, world, runtime)
        return _prune(config, log or _quiet, world, runtime)
    finally:
        world.stop()


def _follow_finetuning(cfg: PruneConfig, world, runtime) -> None:
    """A rank other than 0 under torchrun: wait while rank 0 prunes, then fine-tune its pruned
    network with it (nothing when rank 0 stopped before)."""
    import torch

    from budgetnas.data import make_loader
    from budgetnas.models.checkpoint import load_network

    _, model_kwargs = _check(cfg)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    parent = load_network(cfg.model, cfg.model_class, model_kwargs, cfg.trust_file)[0].eval()
    images = _load_images(cfg)
    sent = world.broadcast_object()
    if sent is None:
        return None
    net, spent, loader_rng, rng = sent
    loader = make_loader(images.train, cfg.dataset.batch_size, shuffle=True, seed=cfg.seed)
    loader.generator.set_state(loader_rng)
    torch.set_rng_state(rng)
    ft = cfg.finetune
    finetune_pruned(
        net, loader, ft.epochs, spent, parent, ft.gamma, ft.kl, ft.temperature, ft.lr, None,
        runtime, world,
    )  # fmt: skip
    world.barrier()  # rank 0 measures and writes
    return None


def _prune(cfg: PruneConfig, log: Log, world, runtime) -> PruneResult:
    """What :func:`prune` does on rank 0 (in one process: everything)."""
    from budgetnas.data import make_loader
    from budgetnas.devices import on_device
    from budgetnas.pruning.groups import PruningGraph
    from budgetnas.pruning.pipeline import kept_widths
    from budgetnas.training.evaluate import accuracy

    try:  # until the pruned network is sent, a failure here tells the other ranks to leave
        budget, out, parent, desc, info, images = _prepare(cfg, log)
        example, test_loader = images.example, images.test_loader

        def test_accuracy(net) -> float:
            with on_device(net, runtime.device):
                return accuracy(net, test_loader, runtime=runtime)

        sel, ft, batch = cfg.selection, cfg.finetune, cfg.dataset.batch_size
        started = time.time()
        graph = PruningGraph(
            parent, example, ignored=sel.ignore, output_layers=sel.output_layer or None
        )
        unprunable = ", ".join(graph.unprunable) or "none"
        log(f"{len(graph.groups)} channel groups; not pruned: {unprunable}")
        train_loader = make_loader(images.train, batch, shuffle=True, seed=cfg.seed)
        score_loader = make_loader(images.plain, batch, shuffle=True, seed=cfg.seed)
        loaders = (train_loader, score_loader)
        pruned = _select(cfg, parent, images, budget, graph, loaders, started, log)
        net, value = pruned.net, pruned.value
        log(
            f"pruned: {budget.metric} = {value:.6g} (limit {budget.limit:g}) after "
            f"{pruned.solves} solve(s)"
        )
        acc_parent, acc_pruned = test_accuracy(parent), test_accuracy(net)
    except BaseException:
        world.broadcast_object(None)  # the other ranks have nothing to fine-tune
        raise
    t = time.time()
    if world.distributed:  # the other ranks fine-tune the same network on the same batches
        import torch

        world.broadcast_object(
            (net, pruned.spent, train_loader.generator.get_state(), torch.get_rng_state())
        )
        log(f"fine-tuning on {world.size} ranks")
    losses = finetune_pruned(
        net, train_loader, ft.epochs, pruned.spent, parent, ft.gamma, ft.kl, ft.temperature,
        ft.lr, log, runtime, world,
    )  # fmt: skip
    world.barrier()
    pruned.timings["finetune_s"] = time.time() - t
    net.eval()
    acc_ft = test_accuracy(net)
    counts, latency = _measure(parent, net, example, budget, log)
    files = _export(net, example, out)
    result = PruneResult(
        model=str(cfg.model),
        source=desc,
        data=cfg.dataset.data,
        input_shape=[info.channels, info.image_size, info.image_size],
        budget=PrunedBudget(
            cfg.budget,
            budget.metric,
            budget.limit,
            value,
            budget.slack(value),
            budget.feasible(value),
            pruned.parent_value,
            pruned.solves,
        ),
        counts=counts,
        latency=latency,
        accuracy=PruneAccuracy(acc_parent, acc_pruned, acc_ft, len(images.test)),
        method=_method(cfg, pruned, len(images.train), losses),
        groups=kept_widths(graph, net),
        not_pruned=graph.unprunable,
        unwrapped_parameters_left_alone=graph.unwrapped,
        timings={k: round(v, 2) for k, v in pruned.timings.items()},
        files=files,
        network=net,
    )
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=2))
    return result


def _method(cfg: PruneConfig, pruned: _Pruned, train_images: int, losses) -> PruneMethod:
    sel, ft = cfg.selection, cfg.finetune
    return PruneMethod(
        importance=sel.importance,
        solver=sel.solver,
        knapsack_steps=sel.steps,
        calibrate=sel.calibrate or None,
        step_limits=pruned.schedule,
        recovery_batches=pruned.spent,
        recovery_batches_per_step=pruned.recover if sel.steps > 1 else 0,
        distillation={"gamma": ft.gamma, "kl": ft.kl, "temperature": ft.temperature},
        finetune_epochs=ft.epochs,
        train_images=train_images,
        finetune_losses=losses,
    )
