"""What the tabular benchmark's records say: per-condition rows, per-solver summaries of each
half (mean regret, worst condition, losses to random search), the printed tables and the plots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_table", "main", "merge_records", "plot", "solver_summary", "summarize"]


def _at(record: dict[str, Any], k: int, field: str = "regret") -> float:
    """The record's regret (or wall time) after ``k`` queries: its checkpoint, else its end."""
    values = record.get(f"{field}_at", {})
    if str(k) in values:
        return float(values[str(k)])
    return float(record["regret"] if field == "regret" else record["wall_s"])


def _standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (0 for a single value)."""
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (solver, condition): mean and standard error of the regret over seeds (at
    the end and at every checkpoint), feasibility and wall time."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["solver"], r["target"], r["cost"], r["quantile"], r["half"])].append(r)
    rows = []
    for (solver, target, cost, q, half), rs in sorted(
        groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][3], kv[0][0])
    ):
        regrets = np.array([r["regret"] for r in rs])
        checkpoints = sorted({int(k) for r in rs for k in r.get("regret_at", {})})
        at = {str(k): np.array([_at(r, k) for r in rs]) for k in checkpoints}
        rows.append(
            {
                "solver": solver,
                "target": target,
                "cost": cost,
                "quantile": q,
                "half": half,
                "budgets": rs[0]["budgets"],
                "runs": len(rs),
                "mean_regret": float(regrets.mean()),
                "std_regret": float(regrets.std()),
                "se_regret": _standard_error(regrets),
                "regret_at": {k: float(v.mean()) for k, v in at.items()},
                "se_at": {k: _standard_error(v) for k, v in at.items()},
                "feasible": float(
                    np.mean([r["feasible"] and r.get("feasible_at", True) for r in rs])
                ),
                "mean_wall_s": float(np.mean([r["wall_s"] for r in rs])),
                "wall_at": {
                    str(k): float(np.mean([_at(r, k, "wall") for r in rs])) for k in checkpoints
                },
                "mean_report": float(np.mean([r["report"] for r in rs])),
            }
        )
    return rows


def _regret(row: dict[str, Any], k: int) -> tuple[float, float]:
    """A row's mean regret and its standard error after ``k`` queries."""
    if str(k) in row["regret_at"]:
        return row["regret_at"][str(k)], row["se_at"][str(k)]
    return row["mean_regret"], row["se_regret"]


def solver_summary(rows: Sequence[dict[str, Any]], k: int, half: str | None = None) -> list[dict]:
    """Per solver, over the conditions (of ``half``, or all): the mean regret after ``k``
    queries (a mean of the conditions' means), the worst condition, and the conditions where it
    loses to random search: by any amount, and by more than the standard error of the
    difference of the two means."""
    rows = [r for r in rows if half is None or r["half"] == half]
    by_cond = {(r["solver"], r["target"], r["cost"], r["quantile"]): r for r in rows}
    out = []
    for solver in sorted({r["solver"] for r in rows}):
        mine = [r for r in rows if r["solver"] == solver]
        means = [_regret(r, k)[0] for r in mine]
        worst = max(mine, key=lambda r: _regret(r, k)[0])
        losses = beyond = 0
        for r in mine:
            rand = by_cond.get(("random", r["target"], r["cost"], r["quantile"]))
            if rand is None or solver == "random":
                continue
            (m, se), (mr, ser) = _regret(r, k), _regret(rand, k)
            losses += m > mr
            beyond += m - mr > np.hypot(se, ser)
        checkpoints = sorted({int(c) for r in mine for c in r["regret_at"]})
        out.append(
            {
                "solver": solver,
                "conditions": len(mine),
                "mean_regret": float(np.mean(means)),
                "regret_at": {
                    str(c): float(np.mean([_regret(r, c)[0] for r in mine])) for c in checkpoints
                },
                "worst": _regret(worst, k)[0],
                "worst_condition": f"{worst['target']} {worst['cost']} q={worst['quantile']:g}",
                "losses_to_random": None if solver == "random" else int(losses),
                "losses_beyond_se": None if solver == "random" else int(beyond),
                "feasible": float(np.mean([r["feasible"] for r in mine])),
                "mean_wall_s": float(
                    np.mean([r["wall_at"].get(str(k), r["mean_wall_s"]) for r in mine])
                ),
            }
        )
    return sorted(out, key=lambda s: s["mean_regret"])


def format_table(rows: Sequence[dict[str, Any]], headline: int = 0) -> str:
    """The per-condition table (when short) and the per-solver summary of each half."""
    lines = []
    if len(rows) <= 60:
        head = (
            f"{'solver':<10} {'objective':<10} {'cost':<30} {'q':>5} {'runs':>4} {'regret':>8} "
            f"{'s.e.':>6} {'feasible':>8} {'wall_s':>7} {'report':>7}"
        )
        lines += [head, "-" * len(head)]
        for r in rows:
            lines.append(
                f"{r['solver']:<10} {r['target']:<10} {r['cost']:<30} {r['quantile']:>5g} "
                f"{r['runs']:>4d} {r['mean_regret']:>8.3f} {r['se_regret']:>6.3f} "
                f"{100 * r['feasible']:>7.0f}% {r['mean_wall_s']:>7.3f} {r['mean_report']:>7.2f}"
            )
        lines.append("")
    halves_present = sorted({r["half"] for r in rows})
    for half in halves_present:
        summ = solver_summary(rows, headline, half)
        checkpoints = sorted({int(c) for s in summ for c in s["regret_at"]})
        at = "".join(f" {'@' + str(c):>7}" for c in checkpoints)
        title = f"half {half!r}: " if half != "all" else ""
        lines.append(
            f"{title}{summ[0]['conditions'] if summ else 0} conditions; regret after "
            f"{headline or 'all'} queries (mean over conditions of the mean over seeds)"
        )
        head = (
            f"{'solver':<10} {'regret':>7}{at} {'worst':>7} {'losses':>6} {'>s.e.':>5} "
            f"{'feasible':>8} {'wall_s':>7}  worst condition"
        )
        lines += [head, "-" * len(head)]
        for sm in summ:
            at_values = "".join(
                f" {sm['regret_at'][str(c)]:>7.3f}" if str(c) in sm["regret_at"] else f" {'-':>7}"
                for c in checkpoints
            )
            losses = "-" if sm["losses_to_random"] is None else str(sm["losses_to_random"])
            beyond = "-" if sm["losses_beyond_se"] is None else str(sm["losses_beyond_se"])
            lines.append(
                f"{sm['solver']:<10} {sm['mean_regret']:>7.3f}{at_values} {sm['worst']:>7.3f} "
                f"{losses:>6} {beyond:>5} {100 * sm['feasible']:>7.0f}% "
                f"{sm['mean_wall_s']:>7.3f}  {sm['worst_condition']}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def plot(
    rows: Sequence[dict[str, Any]], path: str | Path, objective: Sequence[str] | str, headline=0
) -> None:
    """Regret against queries per half (when the runs have checkpoints), else regret against
    the budget quantile per cost set."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objective = ", ".join(objective) if not isinstance(objective, str) else objective
    solvers = sorted({r["solver"] for r in rows})
    checkpoints = sorted({int(c) for r in rows for c in r["regret_at"]})
    if len(checkpoints) > 1:
        panels = sorted({r["half"] for r in rows})
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
        for ax, half in zip(axes[0], panels, strict=True):
            for solver in solvers:
                mine = [r for r in rows if r["solver"] == solver and r["half"] == half]
                if not mine:
                    continue
                ks = sorted(set.intersection(*({int(c) for c in r["regret_at"]} for r in mine)))
                means = np.array([[_regret(r, k)[0] for k in ks] for r in mine])
                mean = means.mean(0)
                se = means.std(0, ddof=1) / np.sqrt(len(mine)) if len(mine) > 1 else 0 * mean
                ax.plot(ks, mean, marker="o", label=solver)
                ax.fill_between(ks, mean - se, mean + se, alpha=0.15)
            ax.set_xscale("log")
            ax.set_xticks(checkpoints, [str(k) for k in checkpoints])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_yscale("log")
            n = len({(r["target"], r["cost"], r["quantile"]) for r in rows if r["half"] == half})
            ax.set_title(f"half: {half} ({n} conditions)")
            ax.set_xlabel("queries")
            ax.set_ylabel(f"mean regret ({objective}, points) ± s.e.")
            ax.grid(alpha=0.3, which="both")
        axes[0][0].legend(fontsize=8)
    else:
        costs = sorted({(r["target"], r["cost"]) for r in rows})
        fig, axes = plt.subplots(1, len(costs), figsize=(4.2 * len(costs), 3.6), squeeze=False)
        for ax, (target, cost) in zip(axes[0], costs, strict=True):
            for solver in solvers:
                rs = sorted(
                    (
                        r
                        for r in rows
                        if (r["target"], r["cost"]) == (target, cost) and r["solver"] == solver
                    ),
                    key=lambda r: r["quantile"],
                )
                if rs:
                    ax.errorbar(
                        [r["quantile"] for r in rs],
                        [r["mean_regret"] for r in rs],
                        yerr=[r["se_regret"] for r in rs],
                        marker="o",
                        capsize=3,
                        label=solver,
                    )
            ax.set_title(f"{target}, {cost}", fontsize=9)
            ax.set_xlabel("budget quantile (share of cells within budget)")
            ax.set_ylabel("mean regret (points) ± s.e.")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def merge_records(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The records of several benchmark JSONs, one per (solver, objective, cost set, quantile,
    seed): the first file that holds a run wins (random search is in each of them)."""
    import json

    seen: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        with open(path) as fh:
            for r in json.load(fh)["records"]:
                seen.setdefault((r["solver"], r["target"], r["cost"], r["quantile"], r["seed"]), r)
    return list(seen.values())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m budgetnas.bench.nb201_summary A.json B.json --at 100``: one summary of the
    runs of several ``bench nb201`` JSONs (for example slow solvers run to fewer queries)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m budgetnas.bench.nb201_summary")
    parser.add_argument("json", nargs="+", help="bench nb201 JSON files")
    parser.add_argument("--at", type=int, default=100, help="queries the regret is read at")
    parser.add_argument("--plot", help="PNG of the regret against queries")
    args = parser.parse_args(argv)
    rows = summarize(merge_records(args.json))
    print(format_table(rows, args.at))
    if args.plot:
        plot(rows, args.plot, sorted({r["target"] for r in rows}), args.at)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
