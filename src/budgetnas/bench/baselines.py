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

All selected networks then get the same fine-tuning (the run's own, :meth:`Pipeline.finetune` of
the reopened run, :func:`budgetnas.pipeline.run.open_run`: KL distillation from the heaviest path,
the same epochs and images) and test evaluation, and the latency of each is
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

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.bench._base import register_benchmark
from budgetnas.config import option
from budgetnas.devices import DEVICE_HELP
from budgetnas.executors.base import ray_address_option, ray_gpus_option, uses_executor
from budgetnas.spaces.mobilenet import DEPTHS, EXPANSIONS, N_STAGES, BlockConfig, MobileNetSpace

__all__ = [
    "FINETUNE_KIND",
    "LATENCY_KIND",
    "METHODS",
    "ONESHOT_KIND",
    "BaselineBench",
    "BaselineConfig",
    "LatencyCache",
    "compare",
    "markdown",
    "plot",
    "random_feasible",
    "run_baselines",
    "uniform_family",
]

ONESHOT_KIND = "baseline-oneshot"
LATENCY_KIND = "baseline-latency"
FINETUNE_KIND = "baseline-finetune"
METHODS = ("found", "uniform", "random")


@dataclass
class BaselineConfig:
    """Settings of the benchmark; ``None`` takes the run's own setting.

    Example:
        >>> cfg = BaselineConfig(run="runs/r", budgets=["latency_ms=1.0,1.5"])
        >>> cfg.random_archs, cfg.solver is None
        (20, True)
    """

    run: str | None = option(None, "a finished `budgetnas run` directory")
    budgets: list[str] = option(
        [],
        "METRIC=V1,V2,... e.g. latency_ms=1.0,1.5,2.0 (repeat for other metrics)",
        flag="budgets",
    )
    solver: str | None = option(None, "predictor solver of the found network (none: the run's)")
    rerank: int | None = option(
        None,
        "found network: the predictor's K best re-ranked by one-shot accuracy (none: the run's)",
    )
    random_archs: int = option(20, "random feasible architectures, the best by one-shot accuracy")
    finetune_epochs: int | None = option(None, "fine-tuning epochs (none: the run's)")
    finetune_subset: int | None = option(None, "fine-tuning training images (none: the run's)")
    eval_subset: int | None = option(
        None, "held-out images of the one-shot selection (none: the run's)"
    )
    latency_repeats: int | None = option(None, "latency repeats (none: the run's table repeats)")
    max_draws: int = option(200_000, "random samples tried at most")
    seed: int = option(0, "seed of the random architectures")
    remeasure: bool = option(
        False,
        "measure every latency again instead of reusing the stored one (a host that was busy "
        "or whose speed drifted); one-shot scores and fine-tunings are still reused",
    )
    jobs: int = option(1, "networks fine-tuned at once (local processes, or Ray tasks)")
    executor: str = option("local", "where networks are fine-tuned with --jobs: local or ray")
    ray_address: str | None = ray_address_option()
    ray_gpus: float = ray_gpus_option()
    device: str | None = option(
        None, "device of the one-shot scores and fine-tunings (none: the run's); " + DEVICE_HELP
    )
    precision: str | None = option(
        None, "precision of the one-shot scores and fine-tunings (none: the run's)"
    )


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
    from budgetnas.search.program import cost_vector

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


# ---- stored measurements ---------------------------------------------------------------------
class LatencyCache:
    """Measured latencies kept in a store under ``prefix/arch``: a stored value is reused, unless
    ``remeasure`` asks to measure each network once more (once per cache) and store the new value.

    Example:
        >>> import tempfile
        >>> from budgetnas.store import Store
        >>> store = Store(tempfile.mkdtemp() + "/s.sqlite")
        >>> cache = LatencyCache(store, "lut/r3", lambda arch: 2.5)
        >>> cache.ms("a"), store.get(LATENCY_KIND, "lut/r3/a")
        (2.5, {'ms': 2.5})
    """

    def __init__(self, store, prefix: str, measure: Callable[[Any], float], remeasure=False):
        self.store = store
        self.prefix = prefix
        self.measure = measure
        self.remeasure = remeasure
        self._fresh: set[str] = set()  # keys measured by this cache (``remeasure``)

    def ms(self, arch) -> float:
        key = f"{self.prefix}/{arch}"
        stale = self.remeasure and key not in self._fresh
        rec = None if stale else self.store.get(LATENCY_KIND, key)
        if rec is None:
            rec = {"ms": float(self.measure(arch))}
            self.store.put(LATENCY_KIND, key, rec)
            self._fresh.add(key)
        return float(rec["ms"])


# ---- the benchmark's setup ----------------------------------------------------------------------
def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _solver(asked: str | None, run_solver: str, log: Callable[[str], None]) -> str:
    """The predictor solver of the found network: the one asked, else the run's (milp when the
    run searched the supernet with hardcore)."""
    if asked == "hardcore":
        raise ValueError(
            "the baselines bench searches on the run's predictor; hardcore searches on the "
            "supernet: give a predictor solver (milp, frank-wolfe, evolution, random)"
        )
    solver = asked or run_solver
    if solver == "hardcore":
        log("the run used hardcore; the bench searches its predictor with milp")
        solver = "milp"
    return solver


def _budgets(sweeps: Sequence[str]) -> list:
    """The budgets of sweeps such as ``latency_ms=1.0,1.5,2.0``."""
    from budgetnas.pipeline.pareto import parse_sweep
    from budgetnas.units import Budget

    out = []
    for sweep in sweeps:
        metric, limits = parse_sweep(sweep)
        out += [Budget(metric, limit, f"{metric}<={limit:g}") for limit in limits]
    if not out:
        raise ValueError("give budgets, e.g. --budgets latency_ms=1.0,1.5,2.0")
    return out


def _latency_table(space, store, threads: int, repeats: int, need: bool, log):
    """The latency table (built or reused when a latency budget needs it, else the stored one if
    any) and the measuring fingerprint: the table's, or this machine's default without a table."""
    from budgetnas.costs.fingerprint import current_fingerprint
    from budgetnas.costs.measure import build_table
    from budgetnas.costs.table import load_table

    table = None
    if need:
        log("building (or reusing) the latency table")
        table = build_table(space, store, threads=threads, repeats=repeats)
    else:
        try:
            table = load_table(store, space, threads=threads)
        except (FileNotFoundError, ValueError):
            table = None
    fp = table.fingerprint if table is not None else current_fingerprint(space, threads=threads)
    return table, fp


def _latencies(supernet, store, table, fp: dict, repeats: int, remeasure: bool) -> LatencyCache:
    """Latencies measured as the table was (its backend, threads, statistic), stored."""
    from budgetnas.costs.fingerprint import fingerprint_id
    from budgetnas.pipeline.search import latency_measurer

    stat = table.stat if table is not None else "median"
    measure = latency_measurer(supernet, fp, repeats=repeats, stat=stat)
    return LatencyCache(store, f"{fingerprint_id(fp)}/r{repeats}", measure, remeasure)


# ---- the benchmark --------------------------------------------------------------------------------
class BaselineBench:
    """The benchmark on one run directory (see the module docstring), opened once here: the run's
    settings, predictor form and supernet, the store, the evaluator of the one-shot selection and
    the latency table, and the run's own fine-tuning."""

    def __init__(self, cfg: BaselineConfig, log: Callable[[str], None] | None = None):
        from budgetnas.executors.base import check_executor_settings
        from budgetnas.pipeline.finetune_tasks import evaluator
        from budgetnas.pipeline.rerank import check_rerank
        from budgetnas.pipeline.run import open_run
        from budgetnas.predictors.fit import PredictorResult
        from budgetnas.training.speed import use_threads

        if not cfg.run:
            raise ValueError("give the run directory: --run DIR")
        check_executor_settings(cfg)
        self.cfg = cfg
        self.log = log or _stderr
        self.run_dir = Path(cfg.run)
        # its configuration, supernet and store (on this benchmark's device, when it names one)
        self.opened = open_run(self.run_dir, self.log, cfg.device, cfg.precision)
        s = self.settings = self.opened.cfg
        check_executor_settings(cfg, device=s.train.device)  # the device the tasks would use
        use_threads(s.train.threads)
        self.form = PredictorResult.load(self.run_dir).form
        self.trained = self.opened.trained
        self.space = self.trained.space
        self.store = self.opened.store
        self.solver = _solver(cfg.solver, s.search.solver, self.log)
        self.rerank = s.search.rerank if cfg.rerank is None else cfg.rerank
        check_rerank(self.rerank, self.solver)
        self.repeats = cfg.latency_repeats or s.search.lut_repeats
        self.epochs = s.finetune.epochs if cfg.finetune_epochs is None else cfg.finetune_epochs
        self.subset = s.finetune.images if cfg.finetune_subset is None else cfg.finetune_subset
        self.heldout = s.predictor.heldout if cfg.eval_subset is None else cfg.eval_subset
        self.evaluator = evaluator(self.opened, self.heldout)
        self.heldout_images = sum(len(y) for _, y in self.evaluator.eval_batches)
        # the store keys: weights and evaluation settings, and the held-out images used
        self.key = f"{self.evaluator.fingerprint(sampling=False)}/h{self.heldout_images}"
        self.budgets = _budgets(cfg.budgets)
        t = time.perf_counter()
        need_table = any(b.metric == "latency_ms" for b in self.budgets)
        self.table, self.fingerprint = _latency_table(
            self.space, self.store, s.search.lut_threads, s.search.lut_repeats, need_table, self.log
        )
        self.setup_s = time.perf_counter() - t
        self.latencies = _latencies(
            self.trained.net, self.store, self.table, self.fingerprint, self.repeats, cfg.remeasure
        )

    # -- cached measurements
    def oneshot(self, arch: Architecture) -> float:
        key = f"{self.key}/{arch}"
        rec = self.store.get(ONESHOT_KIND, key)
        if rec is None:
            rec = {"acc": float(self.evaluator.one_shot_accuracy(arch))}
            self.store.put(ONESHOT_KIND, key, rec)
        return float(rec["acc"])

    def latency(self, arch: Architecture) -> float:
        return self.latencies.ms(arch)

    def _finetune_key(self, arch) -> str:
        s = self.settings
        recipe = (
            f"e{self.epochs}/n{self.subset}/lr{s.finetune.lr}/b{s.train.batch_size}"
            f"/m{s.train.max_steps}"
        )
        return f"{self.key}/{recipe}/s{s.train.seed}/{arch}"

    def finetune_on_executor(self, archs: Sequence[str]) -> None:
        """Fine-tune those of ``archs`` (string forms) whose result the store lacks as executor
        tasks (``cfg.jobs`` at once, local processes or Ray), the results stored here."""
        from budgetnas.executors.base import executor_from, worker_threads
        from budgetnas.pipeline.finetune_tasks import FinetuneJob, finetune_on_executor

        cfg = self.cfg
        todo = list(
            dict.fromkeys(
                a for a in archs if self.store.get(FINETUNE_KIND, self._finetune_key(a)) is None
            )
        )
        if not todo:
            return
        job = FinetuneJob(
            str(self.run_dir), self.epochs, self.subset, self.heldout, device=cfg.device,
            precision=cfg.precision, threads=worker_threads(cfg.executor, cfg.jobs),
        )  # fmt: skip
        with executor_from(cfg) as executor:
            for arch, done in finetune_on_executor(job, todo, executor, self.log):
                rec = {**done["accs"], "finetune_s": done["finetune_s"]}
                self.store.put(FINETUNE_KIND, self._finetune_key(arch), rec)

    def finetuned(self, arch: Architecture) -> dict[str, float]:
        key = self._finetune_key(arch)
        rec = self.store.get(FINETUNE_KIND, key)
        if rec is None:
            t = time.perf_counter()
            _, accs = self.opened.finetune(arch, self.epochs, self.subset, evaluator=self.evaluator)
            rec = {**accs, "finetune_s": time.perf_counter() - t}
            self.store.put(FINETUNE_KIND, key, rec)
        return rec

    # -- selection
    def _fits(self, arch, constraints) -> tuple[bool, list]:
        """Every budget met, predicted and (latency) measured; the budget rows."""
        from budgetnas.results import budget_rows

        latency = any(c.budget.metric == "latency_ms" for c in constraints)
        measured = {"latency_ms": self.latency(arch)} if latency else None
        rows = budget_rows(constraints, arch, measured)
        return all(r.ok for r in rows), rows

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

    def _found(self, budget, cons, base: dict) -> dict:
        """The solver on the predictor with the closed loop (re-ranked by one-shot accuracy)."""
        from budgetnas.pipeline.search import closed_loop
        from budgetnas.search import InfeasibleBudgetError

        measurers = {"latency_ms": self.latency} if budget.metric == "latency_ms" else {}
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
                max_rounds=self.settings.search.max_rounds,
                raise_on_failure=False,
                constraints=cons,
                chooser=chooser,
            )
        except InfeasibleBudgetError as exc:
            return {**base, "method": "found", "error": str(exc)}
        if not loop.ok:
            return {**base, "method": "found", "error": loop.message}
        _, brows = self._fits(loop.arch, cons)
        detail = {
            "solver": self.solver,
            "rerank": self.rerank,
            "closed_loop": loop.message,
            "rounds": len(loop.rounds),
        }
        return {
            **base,
            "method": "found",
            "arch": str(loop.arch),
            "budgets": _json(brows),
            "detail": detail,
        }

    def _uniform(self, cons, base: dict) -> dict:
        """The best uniform scaling of the heaviest network that fits."""
        members = {a: m for m, a in uniform_family(self.space)}
        feasible = [a for a in members if all(c.feasible(a) for c in cons)]
        arch, brows, detail = self._best_by_oneshot(feasible, cons)
        if arch is None:
            return {
                **base,
                "method": "uniform",
                "error": f"no uniform member fits ({len(feasible)} of {len(members)} predicted "
                f"within; {len(detail['passed_over'])} broke the measured budget)",
            }
        detail["member"] = members[arch]
        return {
            **base,
            "method": "uniform",
            "arch": str(arch),
            "budgets": _json(brows),
            "detail": detail,
        }

    def _random(self, budget, cons, base: dict) -> dict:
        """The best of ``random_archs`` random feasible architectures."""
        from budgetnas.predictors.evaluator import stable_hash

        rng = np.random.default_rng([self.cfg.seed, stable_hash(f"baselines/random/{budget}")])
        archs, draws = random_feasible(
            self.space, cons, self.cfg.random_archs, rng, self.cfg.max_draws
        )
        arch, brows, detail = self._best_by_oneshot(archs, cons)
        detail["draws"] = draws
        if arch is None:
            return {
                **base,
                "method": "random",
                "error": f"{len(archs)} feasible random architectures in {draws} draws, none "
                "within the measured budget",
            }
        if len(archs) < self.cfg.random_archs:
            detail["note"] = f"only {len(archs)} feasible in {draws} draws"
        return {
            **base,
            "method": "random",
            "arch": str(arch),
            "budgets": _json(brows),
            "detail": detail,
        }

    def select(self, budget, constraint) -> list[dict]:
        """The three selections for one budget (rows without accuracies yet)."""
        cons = [constraint]
        base = {"metric": budget.metric, "limit": budget.limit, "budget": str(budget)}
        return [
            self._found(budget, cons, base),
            self._uniform(cons, base),
            self._random(budget, cons, base),
        ]

    def run(self) -> dict[str, Any]:
        """Select, fine-tune and measure every network; returns ``{"config", "rows", ...}``."""
        from budgetnas.costs.registry import constraint

        start = time.perf_counter()
        ctx = {"table": self.table} if self.table is not None else {}
        rows = []
        for budget in self.budgets:
            self.log(f"{budget}: selecting found / uniform / random")
            rows += self.select(budget, constraint(budget, self.space, **ctx))
        if uses_executor(self.cfg):
            self.finetune_on_executor([r["arch"] for r in rows if "error" not in r])
        for i, row in enumerate(rows):
            if "error" in row:
                self.log(f"{row['budget']} {row['method']}: {row['error']}")
                continue
            arch = self.space.from_string(row["arch"])
            self.log(f"[{i + 1}/{len(rows)}] {row['budget']} {row['method']}: fine-tuning {arch}")
            row.update(self._measure_row(arch, row))
        return {
            "config": {
                **asdict(self.cfg),
                "solver": self.solver,
                "rerank": self.rerank,
                "finetune_epochs": self.epochs,
                "finetune_subset": self.subset,
                "latency_repeats": self.repeats,
                "heldout_images": self.heldout_images,
                "latency_fingerprint": self.fingerprint,
            },
            "rows": rows,
            "comparison": compare(rows),
            "wall_s": self.setup_s + time.perf_counter() - start,
        }

    def _measure_row(self, arch, row) -> dict[str, Any]:
        accs = self.finetuned(arch)
        main = next(b for b in row["budgets"] if b["metric"] == row["metric"])
        table = self.table
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


def _json(rows) -> list[dict[str, Any]]:
    return [r.to_json() for r in rows]


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
    from budgetnas.pipeline.summary import baseline_table

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
    from budgetnas.pipeline.report import METHOD_STYLE, pyplot

    plt = pyplot()
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


def _exit_code(result: dict) -> int:
    """1 when a selected network breaks one of its budgets."""
    return 1 if any("error" not in r and not r["ok"] for r in result["rows"]) else 0


@register_benchmark(
    "baselines",
    "found networks vs uniform scaling vs best of random, fine-tuned alike",
    BaselineConfig,
    summary=markdown,
    exit_code=_exit_code,
    required=("run", "budgets"),
)
def run_baselines(cfg: BaselineConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark and write ``baselines.json``, ``baselines.md`` and the plot into the run
    directory (then rewrite its ``summary.md``); returns the result."""
    from budgetnas.files import write_text_atomic
    from budgetnas.pipeline.report import write_report

    bench = BaselineBench(cfg, log)
    result = bench.run()
    run_dir = Path(cfg.run)
    write_text_atomic(run_dir / "baselines.json", json.dumps(result, indent=2, default=float))
    write_text_atomic(run_dir / "baselines.md", markdown(result))
    try:
        plot(result, run_dir / "plots" / "baselines.png")
    except Exception as exc:  # a plot must not lose the rows
        bench.log(f"plots/baselines.png skipped: {type(exc).__name__}: {exc}")
    if (run_dir / "result.json").is_file():
        write_report(run_dir, log=bench.log)
    return result
