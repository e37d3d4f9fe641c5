"""``budgetnas bench baselines``: the found networks against two baselines, fine-tuned alike.

Given a finished ``budgetnas run`` directory (trained supernet, fitted predictor, and for latency
budgets the latency table in its store) and budgets such as ``latency_ms=1.0,1.5,2.0``, each budget
gets three networks:

* ``found``: the solver on the run's predictor with the closed loop of
  :func:`budgetnas.pipeline.search.closed_loop` (latency measured on the table's backend,
  tightened and solved again when a measurement breaks the budget);
* ``uniform``: the best uniform scaling of the heaviest network. The family: every block the same
  ``e{3,4,6}`` with kernel 5 and squeeze-excite (as the heaviest), plus the variants without SE
  and with kernel 3, each at one depth shared by all stages (2, 3 or 4): 36 members. The best is
  the member with the highest one-shot held-out accuracy that fits the budget;
* ``random``: the best of ``random_archs`` (20) random feasible architectures, drawn uniformly
  with rejection of over-budget samples, best by one-shot held-out accuracy.

"Fits" means predicted cost within every budget, and for latency also the measured latency of the
extracted network: a baseline candidate whose measurement breaks the budget is passed over for the
next best one (the found network has the closed loop for the same purpose). So every returned row
is within its budget, predicted and measured, or carries an ``error``.

All selected networks then get the same fine-tuning (:meth:`Pipeline.finetune`: KL distillation
from the heaviest path, the same epochs and images) and test evaluation, and the latency of each is
measured on the table's backend. One-shot accuracies, latencies and fine-tuning results are stored
in the run's ``store.sqlite`` as soon as they exist, so an interrupted bench resumes. A stored
latency is a measurement of a moment: on a host whose speed drifts (or that was busy),
``remeasure=True`` (``--remeasure``) measures every network again, once per bench, and stores the
new value; one-shot scores and fine-tunings are still reused.

Writes ``RUN/baselines.json`` (every row), ``RUN/baselines.md`` (the table) and
``RUN/plots/baselines.png`` (test accuracy against measured latency, three methods), then
rewrites ``RUN/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.spaces.mobilenet import DEPTHS, EXPANSIONS, N_STAGES, BlockConfig, MobileNetSpace

ONESHOT_KIND = "baseline-oneshot"
LATENCY_KIND = "baseline-latency"
FINETUNE_KIND = "baseline-finetune"
METHODS = ("found", "uniform", "random")


@dataclass
class BaselineConfig:
    """Settings of the benchmark; ``None`` takes the run's own setting."""

    run: str
    budgets: list[str] = field(default_factory=list)  # sweeps: "latency_ms=1.0,1.5,2.0"
    solver: str | None = None
    rerank: int | None = None  # the found network: predictor's best K re-ranked by one-shot
    random_archs: int = 20
    finetune_epochs: int | None = None
    finetune_subset: int | None = None
    eval_subset: int | None = None
    latency_repeats: int | None = None
    max_draws: int = 200_000
    seed: int = 0
    remeasure: bool = False  # measure every latency again (once per bench) instead of reusing it


# ---- the candidate families -----------------------------------------------------------------------
def uniform_family(space: MobileNetSpace) -> list[tuple[dict[str, Any], Architecture]]:
    """Uniformly scaled heaviest networks: one block config and one depth everywhere (36)."""
    members = []
    for depth in sorted(DEPTHS, reverse=True):
        for e in sorted(EXPANSIONS, reverse=True):
            for k, se in ((5, True), (5, False), (3, True), (3, False)):
                block = BlockConfig(e, k, se)
                arch = space.from_stage_blocks([[block] * depth] * N_STAGES)
                members.append(({"e": e, "k": k, "se": se, "depth": depth}, arch))
    return members


def random_feasible(
    space, constraints, n: int, rng: np.random.Generator, max_draws: int = 200_000
) -> tuple[list[Architecture], int]:
    """Up to ``n`` distinct uniformly random architectures within every budget (predicted cost),
    by rejection; returns ``(architectures, draws)``."""
    from budgetnas.search._base import cost_vector

    found: dict[Architecture, None] = {}
    draws = 0
    while len(found) < n and draws < max_draws:
        chunk = [space.sample(rng) for _ in range(min(1000, max_draws - draws))]
        draws += len(chunk)
        ok = np.ones(len(chunk), dtype=bool)
        for c in constraints:
            ok &= cost_vector(c, space, chunk) <= c.budget.limit + c.budget.tolerance
        for arch, good in zip(chunk, ok, strict=True):
            if good and len(found) < n:
                found.setdefault(arch)
    return list(found), draws


# ---- the benchmark --------------------------------------------------------------------------------
class BaselineBench:
    """The benchmark on one run directory (see the module docstring)."""

    def __init__(self, cfg: BaselineConfig, log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.run_dir = Path(cfg.run)
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self._fresh: set[str] = set()  # latency keys measured by this bench (``remeasure``)

    # -- setup
    def open(self) -> BaselineBench:
        import torch

        from budgetnas.pipeline.pareto import load_run
        from budgetnas.pipeline.run import Pipeline, RunConfig

        space, form, run_cfg = load_run(self.run_dir)
        known = {f.name for f in fields(RunConfig)}
        self.run_cfg = RunConfig(**{k: v for k, v in run_cfg.items() if k in known})
        torch.set_num_threads(self.run_cfg.threads)
        self.form = form
        self.pipe = Pipeline(self.run_cfg, self.run_dir, log=self.log).open()
        self.space = self.pipe.space
        if self.space.config != space.config:
            raise ValueError("the run's supernet and run_config.json name different spaces")
        self.store = self.pipe.store
        cfg = self.cfg
        if cfg.solver == "hardcore":
            raise ValueError(
                "the baselines bench searches on the run's predictor; hardcore searches on the "
                "supernet: give a predictor solver (milp, frank-wolfe, evolution, random)"
            )
        self.solver = cfg.solver or self.run_cfg.solver
        if self.solver == "hardcore":
            self.log("the run used hardcore; the bench searches its predictor with milp")
            self.solver = "milp"
        from budgetnas.pipeline.rerank import check_rerank

        self.rerank = self.run_cfg.rerank if cfg.rerank is None else cfg.rerank
        check_rerank(self.rerank, self.solver)
        self.repeats = cfg.latency_repeats or self.run_cfg.lut_repeats
        self.epochs = (
            self.run_cfg.finetune_epochs if cfg.finetune_epochs is None else cfg.finetune_epochs
        )
        self.subset = (
            self.run_cfg.finetune_subset if cfg.finetune_subset is None else cfg.finetune_subset
        )
        heldout = self.run_cfg.predictor_subset if cfg.eval_subset is None else cfg.eval_subset
        self.evaluator = (
            self.pipe.evaluator
            if heldout == self.run_cfg.predictor_subset
            else self.pipe.evaluator_on(heldout)
        )
        self.heldout_images = sum(len(y) for _, y in self.evaluator.eval_batches)
        # the store keys: weights and evaluation settings, and the held-out images used
        self.key = f"{self.evaluator.fingerprint(sampling=False)}/h{self.heldout_images}"
        return self

    def _budgets(self):
        from budgetnas.pipeline.pareto import parse_sweep
        from budgetnas.units import Budget

        out = []
        for sweep in self.cfg.budgets:
            metric, limits = parse_sweep(sweep)
            out += [Budget(metric, limit, f"{metric}<={limit:g}") for limit in limits]
        if not out:
            raise ValueError("give budgets, e.g. --budgets latency_ms=1.0,1.5,2.0")
        return out

    def _latency(self, need_table: bool):
        """The latency table (built or reused when a latency budget needs it) and the measuring
        fingerprint: the table's, or this machine's default when there is no table."""
        from budgetnas.costs.lut import build_table, current_fingerprint, load_table

        threads = self.run_cfg.threads
        table = None
        if need_table:
            self.log("building (or reusing) the latency table")
            table = build_table(
                self.space, self.store, threads=threads, repeats=self.run_cfg.lut_repeats
            )
        else:
            try:
                table = load_table(self.store, self.space, threads=threads)
            except (FileNotFoundError, ValueError):
                table = None
        fp = (
            table.fingerprint
            if table is not None
            else current_fingerprint(self.space, threads=threads)
        )
        return table, fp

    # -- cached measurements
    def oneshot(self, arch: Architecture) -> float:
        key = f"{self.key}/{arch}"
        rec = self.store.get(ONESHOT_KIND, key)
        if rec is None:
            rec = {"acc": float(self.evaluator.one_shot_accuracy(arch))}
            self.store.put(ONESHOT_KIND, key, rec)
        return float(rec["acc"])

    def latency(self, arch: Architecture) -> float:
        key = f"{self.latency_id}/r{self.repeats}/{arch}"
        stale = self.cfg.remeasure and key not in self._fresh
        rec = None if stale else self.store.get(LATENCY_KIND, key)
        if rec is None:
            rec = {"ms": float(self._measure(arch))}
            self.store.put(LATENCY_KIND, key, rec)
            self._fresh.add(key)
        return float(rec["ms"])

    def finetuned(self, arch: Architecture) -> dict[str, float]:
        rc = self.run_cfg
        recipe = (
            f"e{self.epochs}/n{self.subset}/lr{rc.finetune_lr}/b{rc.batch_size}/m{rc.max_steps}"
        )
        key = f"{self.key}/{recipe}/s{rc.seed}/{arch}"
        rec = self.store.get(FINETUNE_KIND, key)
        if rec is None:
            t = time.perf_counter()
            _, accs = self.pipe.finetune(arch, self.epochs, self.subset, evaluator=self.evaluator)
            rec = {**accs, "finetune_s": time.perf_counter() - t}
            self.store.put(FINETUNE_KIND, key, rec)
        return rec

    # -- selection
    def _fits(self, arch, constraints) -> tuple[bool, list[dict]]:
        """Every budget met, predicted and (latency) measured; the budget rows."""
        rows = []
        for c in constraints:
            predicted = float(c.value(arch))
            measured = self.latency(arch) if c.budget.metric == "latency_ms" else None
            value = predicted if measured is None else measured
            rows.append(
                {
                    "metric": c.budget.metric,
                    "limit": c.budget.limit,
                    "predicted": predicted,
                    "measured": measured,
                    "slack": c.budget.slack(value),
                    "ok": bool(c.budget.feasible(predicted) and c.budget.feasible(value)),
                }
            )
        return all(r["ok"] for r in rows), rows

    def _best_by_oneshot(self, candidates: Sequence[Architecture], constraints):
        """The candidate with the highest one-shot accuracy whose measured cost also fits."""
        scored = sorted(((self.oneshot(a), str(a), a) for a in candidates), reverse=True)
        passed_over = []
        for _acc, _, arch in scored:
            ok, rows = self._fits(arch, constraints)
            if ok:
                return arch, rows, {"candidates": len(scored), "passed_over": passed_over}
            passed_over.append(str(arch))
        return None, [], {"candidates": len(scored), "passed_over": passed_over}

    def select(self, budget, constraint) -> list[dict]:
        """The three selections for one budget (rows without accuracies yet)."""
        from budgetnas.pipeline.search import closed_loop
        from budgetnas.search import InfeasibleBudgetError

        cons = [constraint]
        base = {"metric": budget.metric, "limit": budget.limit, "budget": str(budget)}
        rows = []
        # found: solver on the predictor + closed loop
        measurers = {}
        if budget.metric == "latency_ms":
            measurers["latency_ms"] = self.latency
        chooser = None
        if self.rerank > 1:  # the predictor's best K, re-ranked as the baselines are chosen
            from budgetnas.pipeline.rerank import reranker

            chooser = reranker(self.space, self.form, self.rerank, self.oneshot, log=self.log)
        try:
            loop = closed_loop(
                self.space,
                self.form,
                solver=self.solver,
                measurers=measurers,
                max_rounds=self.run_cfg.max_rounds,
                raise_on_failure=False,
                constraints=cons,
                chooser=chooser,
            )
            if loop.ok:
                _, brows = self._fits(loop.arch, cons)
                rows.append(
                    {
                        **base,
                        "method": "found",
                        "arch": str(loop.arch),
                        "budgets": brows,
                        "detail": {
                            "solver": self.solver,
                            "rerank": self.rerank,
                            "closed_loop": loop.message,
                            "rounds": len(loop.rounds),
                        },
                    }
                )
            else:
                rows.append({**base, "method": "found", "error": loop.message})
        except InfeasibleBudgetError as exc:
            rows.append({**base, "method": "found", "error": str(exc)})
        # uniform scaling of the heaviest network
        members = {a: m for m, a in uniform_family(self.space)}
        feasible = [a for a in members if all(c.feasible(a) for c in cons)]
        arch, brows, detail = self._best_by_oneshot(feasible, cons)
        if arch is None:
            rows.append(
                {
                    **base,
                    "method": "uniform",
                    "error": f"no uniform member fits ({len(feasible)} of {len(members)} predicted "
                    f"within; {len(detail['passed_over'])} broke the measured budget)",
                }
            )
        else:
            detail["member"] = members[arch]
            rows.append(
                {**base, "method": "uniform", "arch": str(arch), "budgets": brows, "detail": detail}
            )
        # best of N random feasible architectures
        from budgetnas.predictors.supernet import stable_hash

        rng = np.random.default_rng([self.cfg.seed, stable_hash(f"baselines/random/{budget}")])
        archs, draws = random_feasible(
            self.space, cons, self.cfg.random_archs, rng, self.cfg.max_draws
        )
        arch, brows, detail = self._best_by_oneshot(archs, cons)
        detail["draws"] = draws
        if arch is None:
            rows.append(
                {
                    **base,
                    "method": "random",
                    "error": f"{len(archs)} feasible random architectures in {draws} draws, none "
                    "within the measured budget",
                }
            )
        else:
            if len(archs) < self.cfg.random_archs:
                detail["note"] = f"only {len(archs)} feasible in {draws} draws"
            rows.append(
                {**base, "method": "random", "arch": str(arch), "budgets": brows, "detail": detail}
            )
        return rows

    def run(self) -> dict[str, Any]:
        """Select, fine-tune and measure every network; returns ``{"config", "rows", ...}``."""
        from budgetnas.costs.lut import fingerprint_id
        from budgetnas.costs.registry import constraint

        if not hasattr(self, "pipe"):
            self.open()
        start = time.perf_counter()
        budgets = self._budgets()
        table, fp = self._latency(any(b.metric == "latency_ms" for b in budgets))
        self.latency_id = fingerprint_id(fp)
        stat = table.stat if table is not None else "median"
        self._measure = _measurer(self.pipe.supernet, fp, self.repeats, stat)
        ctx = {"table": table} if table is not None else {}
        rows = []
        for budget in budgets:
            self.log(f"{budget}: selecting found / uniform / random")
            rows += self.select(budget, constraint(budget, self.space, **ctx))
        for i, row in enumerate(rows):
            if "error" in row:
                self.log(f"{row['budget']} {row['method']}: {row['error']}")
                continue
            arch = self.space.from_string(row["arch"])
            self.log(f"[{i + 1}/{len(rows)}] {row['budget']} {row['method']}: fine-tuning {arch}")
            row.update(self._measure_row(arch, row, table))
        result = {
            "config": {
                **asdict(self.cfg),
                "solver": self.solver,
                "rerank": self.rerank,
                "finetune_epochs": self.epochs,
                "finetune_subset": self.subset,
                "latency_repeats": self.repeats,
                "heldout_images": self.heldout_images,
                "latency_fingerprint": fp,
            },
            "rows": rows,
            "comparison": compare(rows),
            "wall_s": time.perf_counter() - start,
        }
        return result

    def _measure_row(self, arch, row, table) -> dict[str, Any]:
        accs = self.finetuned(arch)
        main = next(b for b in row["budgets"] if b["metric"] == row["metric"])
        return {
            "predicted": main["predicted"],
            "measured": main["measured"],
            "slack": main["slack"],
            "ok": all(b["ok"] for b in row["budgets"]),
            "predicted_accuracy": float(self.form.value(self.space.encode(arch))),
            "oneshot_heldout_acc": accs["oneshot_heldout_acc"],
            "finetuned_heldout_acc": accs["finetuned_heldout_acc"],
            "test_acc": accs["test_acc"],
            "measured_latency_ms": self.latency(arch),
            "costs": {
                "params_m": self.space.count_params(arch) / 1e6,
                "macs_m": self.space.count_macs(arch) / 1e6,
                **({"latency_ms": table.predict(self.space, arch)} if table is not None else {}),
                row["metric"]: main["predicted"],
            },
        }


def _measurer(supernet, fingerprint: dict, repeats: int, stat: str = "median"):
    from budgetnas.pipeline.search import latency_measurer

    return latency_measurer(supernet, fingerprint, repeats=repeats, stat=stat)


def compare(rows: Sequence[dict]) -> list[dict[str, Any]]:
    """Per budget: test accuracy of the found network minus the best baseline's (``None`` when a
    method has no network)."""
    out = []
    for budget in dict.fromkeys(r["budget"] for r in rows):
        acc = {r["method"]: r.get("test_acc") for r in rows if r["budget"] == budget}
        base = [acc.get(m) for m in ("uniform", "random") if acc.get(m) is not None]
        found = acc.get("found")
        out.append(
            {
                "budget": budget,
                **{f"{m}_test_acc": acc.get(m) for m in METHODS},
                "found_minus_best_baseline": (
                    None if found is None or not base else float(found - max(base))
                ),
            }
        )
    return out


# ---- outputs --------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    from budgetnas.pipeline.report import baseline_table

    cfg = result["config"]
    lines = [
        "# Baselines: found vs uniform scaling vs best of random",
        "",
        f"Run `{cfg['run']}`; solver `{cfg['solver']}`"
        + (
            f" (the predictor's {cfg['rerank']} best re-ranked by one-shot accuracy)"
            if (cfg.get("rerank") or 1) > 1
            else ""
        )
        + "; every network fine-tuned alike: "
        f"{cfg['finetune_epochs']} epoch(s) on {cfg['finetune_subset'] or 'all'} training images "
        f"(CE + KL from the heaviest path); one-shot selection on {cfg['heldout_images']} held-out "
        f"images; latency measured on `{cfg['latency_fingerprint'].get('backend')}`, "
        f"{cfg['latency_fingerprint'].get('threads')} thread(s), median of "
        f"{cfg['latency_repeats']} repeats; {cfg['random_archs']} random feasible architectures.",
        "",
        baseline_table(result["rows"]),
        "",
        "| budget | found test | uniform test | random test | found - best baseline |",
        "|---|---|---|---|---|",
    ]
    for c in result["comparison"]:
        cells = [c[f"{m}_test_acc"] for m in METHODS] + [c["found_minus_best_baseline"]]
        lines.append(
            f"| {c['budget']} | "
            + " | ".join("-" if v is None else f"{v:.4f}" for v in cells)
            + " |"
        )
    lines += ["", f"Wall time {result['wall_s']:.0f} s (stored steps are reused).", ""]
    return "\n".join(lines)


def plot(result: dict, path: str | Path) -> Path:
    """Test accuracy against measured latency, one marker and colour per method."""
    from budgetnas.pipeline.report import METHOD_STYLE, _pyplot

    plt = _pyplot()
    rows = [r for r in result["rows"] if "error" not in r]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method, (marker, color, label) in METHOD_STYLE.items():
        pts = sorted(
            (r["measured_latency_ms"], r["test_acc"]) for r in rows if r["method"] == method
        )
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=marker, color=color, ls="none", label=label)
    for limit in {r["limit"] for r in result["rows"] if r["metric"] == "latency_ms"}:
        ax.axvline(limit, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("test accuracy (after the same fine-tuning)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_baselines(cfg: BaselineConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark and write ``baselines.json``, ``baselines.md`` and the plot into the run
    directory (then rewrite its ``summary.md``); returns the result."""
    from budgetnas.pipeline.report import write_report

    bench = BaselineBench(cfg, log)
    result = bench.run()
    run_dir = Path(cfg.run)
    (run_dir / "baselines.json").write_text(json.dumps(result, indent=2, default=float))
    (run_dir / "baselines.md").write_text(markdown(result))
    try:
        plot(result, run_dir / "plots" / "baselines.png")
    except Exception as exc:  # a plot must not lose the rows
        bench.log(f"plots/baselines.png skipped: {type(exc).__name__}: {exc}")
    if (run_dir / "result.json").is_file():
        write_report(run_dir, log=bench.log)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="budgetnas bench baselines",
        description="Found networks vs the best uniform scaling of the heaviest network vs the "
        "best of N random feasible ones, all fine-tuned alike (see budgetnas.bench.baselines).",
    )
    p.add_argument("--run", required=True, help="a finished `budgetnas run` directory")
    p.add_argument(
        "--budgets",
        action="append",
        required=True,
        help="METRIC=V1,V2,... e.g. latency_ms=1.0,1.5,2.0 (repeat for other metrics)",
    )
    p.add_argument("--solver", default=None, help="(the run's solver)")
    p.add_argument(
        "--rerank",
        type=int,
        default=None,
        help="found network: the predictor's K best re-ranked by one-shot accuracy (the run's)",
    )
    p.add_argument("--random-archs", type=int, default=20)
    p.add_argument("--finetune-epochs", type=int, default=None, help="(the run's)")
    p.add_argument("--finetune-subset", type=int, default=None, help="training images (the run's)")
    p.add_argument("--eval-subset", type=int, default=None, help="held-out images (the run's)")
    p.add_argument("--latency-repeats", type=int, default=None, help="(the run's table repeats)")
    p.add_argument("--max-draws", type=int, default=200_000, help="random samples tried at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--remeasure",
        action="store_true",
        help="measure every latency again instead of reusing the stored one (a host that was busy "
        "or whose speed drifted); one-shot scores and fine-tunings are still reused",
    )
    args = p.parse_args(argv)
    cfg = BaselineConfig(
        run=args.run,
        budgets=list(args.budgets),
        solver=args.solver,
        rerank=args.rerank,
        random_archs=args.random_archs,
        finetune_epochs=args.finetune_epochs,
        finetune_subset=args.finetune_subset,
        eval_subset=args.eval_subset,
        latency_repeats=args.latency_repeats,
        max_draws=args.max_draws,
        seed=args.seed,
        remeasure=args.remeasure,
    )
    result = run_baselines(cfg)
    print(markdown(result))
    bad = [r for r in result["rows"] if "error" not in r and not r["ok"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BaselineBench",
    "BaselineConfig",
    "compare",
    "main",
    "markdown",
    "plot",
    "random_feasible",
    "run_baselines",
    "uniform_family",
]
