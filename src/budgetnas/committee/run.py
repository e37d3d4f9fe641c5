"""``budgetnas committee``: ensembles and cascades of a run's networks under hard budgets.

1. **Candidates**: the run's predictor and solver give the best network at ``candidates`` FLOPs
   limits spread geometrically from the smallest network to the heaviest; each is extracted and
   fine-tuned briefly with the run's recipe (cached in ``OUT/members/``). The user's own
   networks (``--model``) join them as they are.
2. **Costs**, as for any found network: FLOPs and parameters counted, latency measured at batch 1
   on the run's latency backend and threads, all candidates in one interleaved measurement.
3. **Choice** (:func:`budgetnas.committee.select.choose`): every member set, order and threshold
   grid on the held-out split; the budgets are hard there (expected cost per held-out image, and
   the worst case).
4. **Export** of the chosen cascade and ensemble: one TorchScript module each (``cascade.pt``,
   ``ensemble.pt``: ``torch.jit.load`` alone reloads them), every member as ONNX
   (``members/NAME.onnx``) and ``cascade.json`` / ``ensemble.json`` (members, order, thresholds,
   the rule, where each number holds).
5. **Test**: accuracy and exit shares on the test split, and the exported modules' mean latency
   per image timed on test images one by one at batch 1 (and the worst case: every member runs),
   beside the predicted ones (members' measured latencies times the test split's reach).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from budgetnas.committee.config import CommitteeConfig
from budgetnas.files import write_text_atomic

__all__ = ["CommitteeResult", "build_committee"]

RESULT = "committee.json"


@dataclass
class Candidate:
    name: str
    source: str  # an architecture string, or a file
    net: object
    heldout: np.ndarray
    test: np.ndarray
    costs: dict = field(default_factory=dict)
    accs: dict = field(default_factory=dict)
    example_shape: tuple = ()  # (channels, side, side) of one input image
    _traced: object = None

    def traced(self):
        """The candidate as TorchScript on a CPU fp32 copy (traced once): what is timed and what
        the committee modules hold."""
        if self._traced is None:
            import torch

            from budgetnas.devices import cpu_fp32_copy

            net = cpu_fp32_copy(self.net)
            if not isinstance(net, torch.jit.ScriptModule):
                net = _trace(net, torch.zeros(2, *self.example_shape))
            self._traced = net
        return self._traced


@dataclass
class CommitteeResult:
    """What ``committee.json`` holds: the candidates, the committees chosen on the held-out
    split with their test-split numbers, the exports and where each number holds."""

    budgets: list[str]
    candidates: list[dict]
    chosen: dict
    sweep: list[dict]
    measured: dict
    exports: dict
    where: dict

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def save(self, out: Path) -> None:
        write_text_atomic(out / RESULT, json.dumps(self.to_json(), indent=1) + "\n")


def _candidate_archs(p, n: int, log) -> list:
    """The best architecture at ``n`` FLOPs limits from the smallest network to the heaviest."""
    from budgetnas.costs.registry import resolve_cost
    from budgetnas.pipeline.pareto import pareto
    from budgetnas.predictors.fit import PredictorResult
    from budgetnas.training.trained import parse_arch

    space = p.space
    form = PredictorResult.load(p.out).form
    flops = resolve_cost("flops_m", space)
    lo, hi = flops.evaluate(space.smallest()), flops.evaluate(space.heaviest())
    limits = [lo * (hi / lo) ** (i / max(1, n - 1)) for i in range(n)]
    limits[0] *= 1.0 + 1e-9
    rows = pareto(space, form, "flops_m", limits, solver=p.cfg.search.solver)
    archs = []
    for row in rows:
        if "arch" in row and row["arch"] not in archs:
            archs.append(row["arch"])
    log(f"{len(archs)} distinct candidates from {n} FLOPs limits {lo:.1f}..{hi:.1f} M")
    return [parse_arch(space, a) for a in archs]


def _member_path(p, cfg, arch, members_dir: Path) -> tuple[str, Path]:
    """The key of ``arch``'s fine-tuned member and the file that keeps it."""
    from budgetnas.config import to_dict

    key = hashlib.sha256(
        f"{arch}/{to_dict(p.cfg)}/{cfg.epochs}/{cfg.images}/{cfg.heldout}".encode()
    ).hexdigest()[:12]
    return key, members_dir / f"{key}.pt"


def _kept_candidate(p, cfg, arch, members_dir: Path, log) -> Candidate | None:
    """``arch``'s candidate from its member file, or ``None`` when there is none (or it is
    unreadable: it is fine-tuned again)."""
    from budgetnas.safeio import load_weights
    from budgetnas.supernet import extract

    key, path = _member_path(p, cfg, arch, members_dir)
    if not path.is_file():
        return None
    net = extract(p.supernet, arch).eval()
    try:
        saved = load_weights(path, "committee member", "it is fine-tuned again")
        net.load_state_dict(saved["model"])
        log(f"reusing the fine-tuned candidate {path.name}")
        held, test = saved["heldout"].numpy(), saved["test"].numpy()
        return Candidate(key, str(arch), net, held, test, accs=saved["accs"])
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError):
        log(f"{path.name} is unreadable; fine-tuning again")
        return None


def _keep_candidate(p, cfg, arch, members_dir: Path, done: dict) -> Candidate:
    """The candidate of a finished fine-tuning (``done``: a :class:`FinetuneJob` result), its
    member file written."""
    import torch

    from budgetnas.models.checkpoint import save_atomic
    from budgetnas.supernet import extract

    key, path = _member_path(p, cfg, arch, members_dir)
    held, test = done["outputs"]["heldout"], done["outputs"]["test"]
    record = {"model": done["state"], "accs": done["accs"]}
    save_atomic({**record, "heldout": torch.from_numpy(held), "test": torch.from_numpy(test)}, path)
    net = extract(p.supernet, arch)
    net.load_state_dict(done["state"])
    return Candidate(key, str(arch), net.eval(), held, test, accs=done["accs"])


def _finetune_here(p, cfg, arch, held, test) -> dict:
    """Fine-tune ``arch`` in this process: what a :class:`FinetuneJob` task returns."""
    from budgetnas.devices import state_on_cpu
    from budgetnas.training.evaluate import softmax_outputs

    net, accs = p.finetune(arch, epochs=cfg.epochs, subset=cfg.images)
    rt = p.trained.runtime
    outputs = {"heldout": softmax_outputs(net, held, rt), "test": softmax_outputs(net, test, rt)}
    return {"accs": accs, "outputs": outputs, "state": state_on_cpu(net.state_dict())}


def _supernet_candidates(p, cfg, archs, members_dir: Path, held, test, log) -> list[Candidate]:
    """The fine-tuned candidates of ``archs`` with their softmax outputs, from ``members_dir``
    where kept; the others fine-tuned in this process or, with ``cfg.jobs > 1`` or ``--executor
    ray``, as executor tasks (this process alone writes the member files)."""
    from budgetnas.executors.base import uses_executor

    cands = {i: _kept_candidate(p, cfg, a, members_dir, log) for i, a in enumerate(archs)}
    todo = [i for i, c in cands.items() if c is None]
    if todo and uses_executor(cfg):
        from budgetnas.executors.base import executor_from, worker_threads
        from budgetnas.pipeline.finetune_tasks import FinetuneJob, finetune_on_executor

        job = FinetuneJob(
            str(p.out), cfg.epochs, cfg.images, outputs=(("heldout", cfg.heldout), ("test", None)),
            device=cfg.device, threads=worker_threads(cfg.executor, cfg.jobs),
        )  # fmt: skip
        index = {str(archs[i]): i for i in todo}
        with executor_from(cfg) as executor:
            for text, done in finetune_on_executor(job, list(index), executor, log):
                i = index[text]
                cands[i] = _keep_candidate(p, cfg, archs[i], members_dir, done)
    else:
        for i in todo:
            key, _ = _member_path(p, cfg, archs[i], members_dir)
            log(f"fine-tuning candidate {key}: {archs[i]}")
            done = _finetune_here(p, cfg, archs[i], held, test)
            cands[i] = _keep_candidate(p, cfg, archs[i], members_dir, done)
    return [cands[i] for i in range(len(archs))]


def _user_candidate(path: str, held, test, runtime, shape: tuple, classes: int) -> Candidate:
    """A user's network (TorchScript, budgetnas checkpoint or ONNX file) as a candidate; it must
    take the run's images (``shape``: channels, side, side) and give one logit per class."""
    import torch

    from budgetnas.models.checkpoint import load_network

    net = load_network(path)[0].eval()
    wants = getattr(net, "input_shape", None)  # an ONNX file states its input
    if wants is not None and tuple(wants) != tuple(shape):
        raise ValueError(
            f"--model {path} takes {tuple(wants)} images (channels, height, width); the run's "
            f"data are {tuple(shape)}"
        )
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, *shape))
    except Exception as err:
        raise ValueError(f"--model {path} does not run on the run's {shape} images: {err}") from err
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ValueError(f"--model {path} must give a (batch, classes) tensor of logits")
    if out.shape[1] != classes:
        raise ValueError(
            f"--model {path} gives {out.shape[1]} logits per image; the run has {classes} classes"
        )
    from budgetnas.training.evaluate import softmax_outputs

    ph = softmax_outputs(net, held, runtime)
    pt = softmax_outputs(net, test, runtime)
    return Candidate(Path(path).stem, str(path), net, ph, pt)


def _count_and_time(cands, space, images, fingerprint, repeats, labels, log) -> None:
    """Counted FLOPs and parameters; latency per image of each candidate's exported
    (TorchScript) form on ``images`` one by one at batch 1, all in one interleaved measurement,
    as the committees are timed later."""
    import torch

    from budgetnas.costs.modules import count
    from budgetnas.devices import cpu_fp32_copy

    c = space.config
    example = torch.zeros(1, c.in_channels, c.image_size, c.image_size)
    ms = _measure_committees({k.name: k.traced() for k in cands}, images, fingerprint, repeats)
    for k in cands:
        counts = count(cpu_fp32_copy(k.net), example).as_dict()
        k.costs = {
            "latency_ms": ms[k.name],
            "flops_m": counts["flops_m"],
            "params_m": counts["params_m"],
        }
        log(
            f"candidate {k.name}: held-out {100 * _acc(k.heldout, labels):.2f}%, "
            f"{k.costs['latency_ms']:.3f} ms (measured), {k.costs['flops_m']:.1f} MFLOPs, "
            f"{k.costs['params_m']:.3f} M params (counted)"
        )


def _label(committee, names) -> str:
    """A committee's name in the measurements: kind, members in order, thresholds. Equal
    committees (the same cascade chosen at several limits of a sweep) have one name and are
    timed once."""
    members = (" > " if committee.kind == "cascade" else " + ").join(
        names[i] for i in committee.members
    )
    at = f" @ {', '.join(f'{t:.6g}' for t in committee.thresholds)}" if committee.thresholds else ""
    return f"{committee.kind} {members}{at}"


def _acc(probs, labels) -> float:
    return float(np.mean(probs.argmax(1) == labels))


def _module(committee, cands):
    """The committee as one TorchScript module of its members' traced forms."""
    import torch

    from budgetnas.committee.modules import Cascade, Ensemble

    traced = [cands[i].traced() for i in committee.members]
    if committee.kind == "cascade":
        return torch.jit.script(Cascade(traced, list(committee.thresholds)))
    if committee.kind == "ensemble":
        return torch.jit.script(Ensemble(traced))
    return traced[0]


def _export(kind, committee, cands, out: Path, test_stats, info, budgets) -> dict:
    import torch

    from budgetnas.export.onnx import export_onnx
    from budgetnas.files import atomic_path
    from budgetnas.models.onnx_import import is_onnx

    module = _module(committee, cands)
    with atomic_path(out / f"{kind}.pt") as tmp:
        module.save(str(tmp))
    (out / "members").mkdir(exist_ok=True)
    members = []
    for i in committee.members:
        k = cands[i]
        onnx_name = f"members/{k.name}.onnx"
        example = torch.zeros(1, *k.example_shape)
        if is_onnx(k.source):  # the user's own file, as given
            with atomic_path(out / onnx_name) as tmp:
                tmp.write_bytes(Path(k.source).read_bytes())
            members.append(
                {"name": k.name, "source": k.source, "onnx": onnx_name, "costs": k.costs}
            )
            continue
        try:
            import warnings

            from budgetnas.devices import cpu_fp32_copy

            with atomic_path(out / onnx_name) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's notes, as in _trace
                export_onnx(cpu_fp32_copy(k.net), example, tmp)
        except Exception as exc:  # a user's TorchScript module may not export
            onnx_name = f"not exported: {type(exc).__name__}: {exc}"
        members.append({"name": k.name, "source": k.source, "onnx": onnx_name, "costs": k.costs})
    spec = {
        "kind": kind,
        "file": f"{kind}.pt",
        "rule": (
            "members in order; softmax of each member's output; an image leaves at the first "
            "member whose largest probability is >= its threshold (the last member takes every "
            "image left) with that member's probabilities"
            if kind == "cascade"
            else "mean of the members' softmax outputs"
        ),
        "members": members,
        "thresholds": [float(t) for t in committee.thresholds],
        "budgets": [b.text for b in budgets],
        "heldout": committee.stats,
        "test": test_stats,
        "input": [1, info.channels, info.image_size, info.image_size],
        "mean": list(info.mean),
        "std": list(info.std),
        "classes": list(info.classes) if info.classes else None,
    }
    write_text_atomic(out / f"{kind}.json", json.dumps(spec, indent=1) + "\n")
    return {"module": f"{kind}.pt", "spec": f"{kind}.json", "members": [m["onnx"] for m in members]}


def _measure_committees(modules: dict, images, fingerprint, repeats) -> dict:
    """Mean latency per image of every module of ``modules``, over ``images`` one by one at
    batch 1, in one interleaved measurement (ms)."""
    import torch

    from budgetnas.costs.latency import measure

    xs = [x.unsqueeze(0).contiguous() for x in images]

    def runner(m):
        def run():
            with torch.inference_mode():
                for x in xs:
                    m(x)

        return run

    runners = {k: runner(m) for k, m in modules.items()}
    threads = int(fingerprint.get("threads", 1))
    got = measure(runners, repeats=repeats, warmup=1, number=1, threads=threads)
    return {k: float(m.median) / len(xs) for k, m in got.items()}


def build_committee(
    cfg: CommitteeConfig, log: Callable[[str], None] | None = None, sweep: list[float] | None = None
) -> CommitteeResult:
    """Candidates, costs, the committees chosen under ``cfg.budgets`` on the held-out split (and,
    for ``sweep``, under each of those limits on the first budget's metric), exported and
    measured on the test split. Writes ``OUT/committee.json`` and ``OUT/plots/``."""
    import dataclasses

    import torch

    from budgetnas.committee.select import (
        Committee,
        CommitteeBudgetError,
        choose,
        evaluate,
        parse_committee_budgets,
    )
    from budgetnas.executors.base import check_executor_settings
    from budgetnas.pipeline.run import open_run

    log = log or (lambda s: print(s, flush=True))
    if cfg.missing():
        flags = {"run": "--run", "out": "--out", "budgets": "--budget"}
        raise ValueError(f"missing: {', '.join(flags[m] for m in cfg.missing())}")
    budgets = parse_committee_budgets(cfg.budgets)
    check_executor_settings(cfg)
    for m in cfg.models:
        if not Path(m).is_file():
            raise FileNotFoundError(f"no model file at {m}")
    out = Path(cfg.out)
    (out / "members").mkdir(parents=True, exist_ok=True)
    p = open_run(cfg.run, log=log, device=cfg.device)
    check_executor_settings(cfg, device=p.cfg.train.device)  # the device the tasks would use
    trained = p.trained
    info = trained.dataset_info()
    held = trained.batches("heldout", cfg.heldout, 256)
    test = trained.batches("test", None, 256)
    y_held = np.concatenate([np.asarray(y) for _, y in held])
    y_test = np.concatenate([np.asarray(y) for _, y in test])
    c = p.space.config
    shape = (c.in_channels, c.image_size, c.image_size)
    archs = _candidate_archs(p, cfg.candidates, log)
    cands = _supernet_candidates(p, cfg, archs, out / "members", held, test, log)
    cands += [
        _user_candidate(m, held, test, trained.runtime, shape, info.num_classes) for m in cfg.models
    ]
    for k in cands:
        k.example_shape = shape
    s = p.cfg.search
    fingerprint = {"threads": s.lut_threads}
    where_lat = (
        f"measured here, TorchScript on torch-cpu, {s.lut_threads} thread(s), batch 1, on "
        f"{cfg.latency_images} test images one by one"
    )
    gen = torch.Generator().manual_seed(0)
    xs_all = torch.cat([x for x, _ in test])
    pick_idx = torch.randperm(len(xs_all), generator=gen)[: cfg.latency_images]
    images = xs_all[pick_idx].float()
    _count_and_time(cands, p.space, images, fingerprint, cfg.repeats, y_held, log)
    names = [k.name for k in cands]
    costs = [k.costs for k in cands]
    heldp = [k.heldout for k in cands]
    testp = [k.test for k in cands]

    def pick(bs, kinds=cfg.kinds):
        got = choose(heldp, y_held, costs, bs, kinds, cfg.max_members, cfg.grid, names)
        return {
            kind: {
                **com.to_json(),
                "names": [names[i] for i in com.members],
                "test": evaluate(com, testp, y_test, costs),
                "_c": com,
            }
            for kind, com in got.items()
        }

    chosen = pick(budgets)
    xs_held = torch.cat([x for x, _ in held])
    held_images = xs_held[torch.randperm(len(xs_held), generator=gen)[: cfg.latency_images]]
    loops = {}
    for kind in list(chosen):
        chosen[kind], loops[kind] = _closed_loop(
            kind, chosen[kind], budgets, pick, cands, names, held_images.float(), fingerprint,
            cfg.repeats, log,
        )  # fmt: skip
        if chosen[kind] is None:
            del chosen[kind]
    if not chosen:
        raise CommitteeBudgetError(
            f"no committee meets {', '.join(b.text for b in budgets)} as measured at batch 1 "
            "(see the log); loosen the latency budgets"
        )
    for kind, row in chosen.items():
        row["closed_loop"] = loops[kind]
        log(
            f"{kind}: {' > '.join(row['names'])}"
            + (
                f" thresholds {', '.join(f'{t:.3f}' for t in row['thresholds'])}"
                if row["thresholds"]
                else ""
            )
            + f": held-out {100 * row['accuracy']:.2f}% at {row['mean']['latency_ms']:.3f} ms mean"
            f" / {row['worst']['latency_ms']:.3f} ms worst; test {100 * row['test']['accuracy']:.2f}%"
        )
    rows = []
    if sweep:
        first = next((b for b in budgets if not b.worst), budgets[0])
        for limit in sweep:
            bs = [
                dataclasses.replace(b, limit=limit, text=f"{first.metric}<={limit:g}")
                if b is first
                else b
                for b in budgets
            ]
            try:
                rows.append({"limit": limit, "chosen": pick(bs)})
            except ValueError as exc:
                rows.append({"limit": limit, "error": str(exc)})
    exports = {}
    for kind in ("cascade", "ensemble"):
        if kind in chosen:
            exports[kind] = _export(
                kind, chosen[kind]["_c"], cands, out, chosen[kind]["test"], info, budgets
            )
    # measured: every candidate, the exported modules and each other distinct committee of the
    # sweep, once each, on the same test images at batch 1
    modules = {_label(Committee("single", (i,)), names): k.traced() for i, k in enumerate(cands)}
    for kind in exports:
        com = chosen[kind]["_c"]
        modules[_label(com, names)] = torch.jit.load(str(out / exports[kind]["module"]))
        if kind == "cascade":
            never = dataclasses.replace(com, thresholds=tuple(2.0 for _ in com.thresholds))
            modules["cascade (every member)"] = _module(never, cands)
    swept = [r for row in rows for r in row.get("chosen", {}).values()]
    for r in swept:
        key = _label(r["_c"], names)
        if key not in modules:
            modules[key] = _module(r["_c"], cands)
    log(f"timing {len(modules)} networks and committees on {len(images)} test images, batch 1")
    measured = _measure_committees(modules, images, fingerprint, cfg.repeats)
    for r in [*chosen.values(), *swept]:
        r["test"]["measured_mean_latency_ms"] = measured[_label(r["_c"], names)]
    if "cascade" in chosen:
        chosen["cascade"]["test"]["measured_worst_latency_ms"] = measured["cascade (every member)"]
    for table in [chosen, *[r.get("chosen", {}) for r in rows]]:
        for r in table.values():
            r.pop("_c", None)
    cand_rows = [
        {
            "name": k.name,
            "source": k.source,
            "costs": k.costs,
            "heldout_acc": _acc(k.heldout, y_held),
            "test_acc": _acc(k.test, y_test),
            "measured_mean_latency_ms": measured[_label(Committee("single", (i,)), names)],
            **k.accs,
        }
        for i, k in enumerate(cands)
    ]
    result = CommitteeResult(
        budgets=[b.text for b in budgets],
        candidates=cand_rows,
        chosen=chosen,
        sweep=rows,
        measured=measured,
        exports=exports,
        where={
            "choice": f"held-out split, {len(y_held)} images: members, order, thresholds; the "
            "budgets are hard on it",
            "accuracy, exit shares": f"test split, {len(y_test)} images (never used to choose)",
            "member latency": where_lat,
            "predicted mean latency": "members' measured latencies x the split's share of "
            "images reaching each member",
            "latency budgets": "closed loop: each chosen committee's module run at batch 1 on "
            f"{cfg.latency_images} held-out images; chosen again with tighter limits while "
            "over (closed_loop in each row)",
            "measured mean latency": f"the exported module, {where_lat}, median of "
            f"{cfg.repeats} interleaved repeats",
            "flops, params": "counted",
        },
    )
    result.save(out)
    try:
        from budgetnas.committee.plot import plot_committees

        plot_committees(result, out / "plots" / "committees.png")
    except Exception as exc:  # a plot must not fail a finished result
        log(f"plot not written: {type(exc).__name__}: {exc}")
    return result


LOOP_ROUNDS = 4


def _closed_loop(kind, row, budgets, pick, cands, names, images, fingerprint, repeats, log):
    """Check the latency budgets of the chosen ``kind`` by running its module at batch 1 on
    held-out ``images``; while the measured mean (or worst case) is over a limit, choose again
    with that limit scaled by limit / measured. A committee runs slower than the sum of its
    members timed alone (they evict each other from the caches; routing and softmax cost too),
    which the members' costs do not see. Returns ``(row or None, rounds)``: ``None`` when no
    committee of the kind fits as measured within :data:`LOOP_ROUNDS` rounds."""
    import dataclasses

    lat = [b for b in budgets if b.metric == "latency_ms"]
    if not lat:
        return row, []
    scale = {b.worst: 1.0 for b in lat}
    rounds = []
    for r in range(LOOP_ROUNDS):
        com = row["_c"]
        modules = {"mean": _module(com, cands)}
        if kind == "cascade":
            never = dataclasses.replace(com, thresholds=tuple(2.0 for _ in com.thresholds))
            modules["worst"] = _module(never, cands)
        ms = _measure_committees(modules, images, fingerprint, repeats)
        ms.setdefault("worst", ms["mean"])  # every member runs on every image anyway
        over = {b.worst: ms["worst" if b.worst else "mean"] / b.limit for b in lat}
        rounds.append(
            {
                "members": row["names"],
                "thresholds": row["thresholds"],
                "predicted_mean_ms": row["mean"]["latency_ms"],
                "predicted_worst_ms": row["worst"]["latency_ms"],
                "measured_mean_ms": ms["mean"],
                "measured_worst_ms": ms["worst"],
                "limits_scaled_by": {("worst" if w else "mean"): v for w, v in scale.items()},
                "ok": all(v <= 1.0 for v in over.values()),
            }
        )
        if rounds[-1]["ok"]:
            return row, rounds
        log(
            f"{kind}: measured {ms['mean']:.3f} ms mean / {ms['worst']:.3f} ms worst on held-out "
            f"images, over {', '.join(b.text for b in lat)}; choosing again (round {r + 2})"
        )
        for w, v in over.items():
            if v > 1.0:
                scale[w] *= 0.99 / v
        scaled = [
            dataclasses.replace(b, limit=b.limit * scale[b.worst]) if b.metric == "latency_ms"
            else b
            for b in budgets
        ]  # fmt: skip
        try:
            got = pick(scaled, kinds=[kind])
        except ValueError:
            got = {}
        if kind not in got:
            log(f"{kind}: no {kind} fits the latency budgets as measured; left out")
            return None, rounds
        row = got[kind]
    log(f"{kind}: still over the latency budgets after {LOOP_ROUNDS} rounds; left out")
    return None, rounds


def _trace(net, example):
    import warnings

    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python booleans and deprecation
        return torch.jit.trace(net.eval(), example, check_trace=False)
