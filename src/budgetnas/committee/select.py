"""Choosing committees of trained networks under hard budgets, on one split's probabilities.

A committee is one of

* a **single** network;
* an **ensemble**: the mean of the members' softmax outputs; every member runs on every image,
  so its mean cost and its worst-case cost are both the sum of the members' costs;
* a **cascade**: members ordered from cheap to expensive; an image leaves at the first member
  whose largest softmax probability reaches that member's threshold (the last member takes every
  image that is left) and gets that member's prediction. Its expected cost per image is
  ``sum_j c_j * reach_j``, where ``reach_j`` is the share of images that get to member ``j``;
  its worst case (an image no member is sure of) is ``sum_j c_j``.

Everything here is exact on the split it is given: :func:`choose` enumerates every member set
(up to ``max_members``) and, for a cascade, every combination of thresholds on a grid of each
member's own confidences (all of them when there are at most ``grid`` distinct values, else
``grid`` quantiles), the last threshold swept at once with cumulative counts. The choice is made
on the held-out split; :func:`evaluate` then reports a chosen committee on any split.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "KINDS",
    "Committee",
    "CommitteeBudget",
    "CommitteeBudgetError",
    "cascade_exits",
    "choose",
    "evaluate",
    "parse_committee_budgets",
    "threshold_grid",
]

KINDS = ("single", "ensemble", "cascade")
WORST = "worst_"


class CommitteeBudgetError(ValueError):
    """No committee meets the budgets."""


@dataclass(frozen=True)
class CommitteeBudget:
    """A limit on a committee's cost ``metric`` (``latency_ms``, ``flops_m``, ...): on the
    expected cost per image (``worst=False``) or on the cost when every member runs."""

    metric: str
    limit: float
    worst: bool
    text: str

    def value(self, mean: dict, worst: dict) -> float:
        return (worst if self.worst else mean)[self.metric]


def parse_committee_budgets(texts: Sequence[str]) -> list[CommitteeBudget]:
    """``latency_ms<=4`` (the expected latency per image), ``worst_latency_ms<=12`` (every member
    runs), any metric with units as ``budgetnas run`` reads them. ``params_m`` counts every
    member's parameters (the committee ships whole), so it is a worst-case budget however it is
    written."""
    from budgetnas.units import BudgetError, parse_budget

    out, seen = [], set()
    for text in texts:
        worst = text.strip().startswith(WORST)
        b = parse_budget(text.strip()[len(WORST) :] if worst else text)
        worst = worst or b.metric == "params_m"
        key = (b.metric, worst)
        if key in seen:
            raise BudgetError(f"two budgets on {WORST if worst else ''}{b.metric}: give each once")
        seen.add(key)
        out.append(CommitteeBudget(b.metric, b.limit, worst, text))
    return out


@dataclass
class Committee:
    """A committee: ``kind``, its members (indices into the candidates, cheap to expensive for a
    cascade) and, for a cascade, the thresholds of every member but the last."""

    kind: str
    members: tuple[int, ...]
    thresholds: tuple[float, ...] = ()
    stats: dict = field(default_factory=dict)  # evaluate() on the split it was chosen on

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "members": list(self.members),
            "thresholds": [float(t) for t in self.thresholds],
            **self.stats,
        }


def cascade_exits(probs: Sequence[np.ndarray], thresholds: Sequence[float]) -> np.ndarray:
    """The member (0..k-1) at which every image leaves the cascade."""
    n = probs[0].shape[0]
    exits = np.full(n, len(probs) - 1)
    left = np.ones(n, bool)
    for j, t in enumerate(thresholds):
        leave = left & (probs[j].max(1) >= t)
        exits[leave] = j
        left &= ~leave
    return exits


def evaluate(
    committee: Committee,
    probs: Sequence[np.ndarray],
    labels: np.ndarray,
    costs: Sequence[dict],
) -> dict:
    """Accuracy, exit shares, expected and worst-case costs of ``committee`` on one split
    (``probs[i]``: candidate ``i``'s softmax outputs on it; ``costs[i]``: its costs)."""
    members = committee.members
    ps = [probs[i] for i in members]
    cs = [costs[i] for i in members]
    metrics = set.intersection(*(set(c) for c in cs))
    worst = {m: float(sum(c[m] for c in cs)) for m in metrics}
    if committee.kind == "cascade":
        exits = cascade_exits(ps, committee.thresholds)
        pred = np.choose(exits, [p.argmax(1) for p in ps])
        shares = np.bincount(exits, minlength=len(ps)) / len(labels)
        reach = 1.0 - np.concatenate([[0.0], np.cumsum(shares)[:-1]])
        mean = {m: float(sum(c[m] * r for c, r in zip(cs, reach, strict=True))) for m in metrics}
    else:
        pred = np.mean(ps, axis=0).argmax(1)
        shares = np.zeros(len(ps))
        shares[-1] = 1.0
        mean = dict(worst)
    if "params_m" in mean:
        mean["params_m"] = worst["params_m"]
    return {
        "accuracy": float(np.mean(pred == labels)),
        "images": len(labels),
        "exit_shares": [float(s) for s in shares],
        "mean": mean,
        "worst": worst,
    }


def threshold_grid(conf: np.ndarray, grid: int) -> np.ndarray:
    """The thresholds tried for a member with confidences ``conf``: every distinct value (or
    ``grid`` quantiles of them when there are more), and ``inf`` (no image leaves there)."""
    values = np.unique(conf)
    if len(values) > grid:
        values = np.unique(np.quantile(conf, np.linspace(0.0, 1.0, grid), method="lower"))
    return np.concatenate([values, [np.inf]])


def _feasible(budgets, mean, worst) -> bool:
    return all(b.value(mean, worst) <= b.limit * (1 + 1e-12) for b in budgets)


def _better(acc, cost, best) -> bool:
    return best is None or acc > best[0] or (acc == best[0] and cost < best[1])


def _best_set(kind, sizes, probs, labels, costs, budgets, primary):
    """The most accurate committee of ``kind`` (``single`` or ``ensemble``) over every member
    set of each size of ``sizes`` that meets the budgets: ``(accuracy, cost, committee)``."""
    best = None
    for k in sizes:
        for members in itertools.combinations(range(len(probs)), k):
            c = Committee(kind, members)
            s = evaluate(c, probs, labels, costs)
            if _feasible(budgets, s["mean"], s["worst"]) and _better(
                s["accuracy"], s["mean"].get(primary, 0.0), best
            ):
                best = (s["accuracy"], s["mean"].get(primary, 0.0), c)
    return best


def _cascade_for(members, probs, labels, costs, budgets, grid, primary):
    """The best thresholds for the cascade ``members`` (in cost order): the first k-2 thresholds
    enumerated on their grids, the last one swept over its grid with cumulative counts."""
    k = len(members)
    ps = [probs[i] for i in members]
    cs = [costs[i] for i in members]
    metrics = sorted(set.intersection(*(set(c) for c in cs)))
    worst = {m: float(sum(c[m] for c in cs)) for m in metrics}
    if not all(b.worst is False or b.value({}, worst) <= b.limit * (1 + 1e-12) for b in budgets):
        return None
    n = len(labels)
    conf = [p.max(1) for p in ps]
    correct = [(p.argmax(1) == labels).astype(np.int64) for p in ps]
    grids = [threshold_grid(c, grid) for c in conf[:-1]]
    cost = {m: np.array([c[m] for c in cs]) for m in metrics}
    best = None
    for head in itertools.product(*grids[:-1]):
        left = np.ones(n, bool)
        hits = 0
        reach = np.zeros(k)
        for j, t in enumerate(head):
            reach[j] = left.sum() / n
            leave = left & (conf[j] >= t)
            hits += int(correct[j][leave].sum())
            left &= ~leave
        j = k - 2
        reach[j] = left.sum() / n
        # the last threshold: image i leaves at member k-2 for every grid value <= conf[i]
        g = grids[-1]
        where = np.searchsorted(g, conf[j][left], side="right") - 1  # -1: never leaves
        lo = where + 1
        leave_hits = np.bincount(lo, weights=correct[j][left], minlength=len(g) + 1)
        stay_hits = np.bincount(lo, weights=correct[k - 1][left], minlength=len(g) + 1)
        stay_n = np.bincount(lo, minlength=len(g) + 1)
        # for threshold index a, images with where >= a leave: bins lo >= a+1
        leave_cum = np.cumsum(leave_hits[::-1])[::-1]  # sum over bins >= b
        stay_cum = np.cumsum(stay_hits)  # sum over bins <= b
        n_stay = np.cumsum(stay_n)
        a = np.arange(len(g))
        acc = (hits + leave_cum[a + 1] + stay_cum[a]) / n
        last_reach = n_stay[a] / n
        means = {
            m: cost[m][:-1] @ reach[:-1] + cost[m][-1] * last_reach for m in metrics
        }  # reach[:-1] holds members 0..k-2
        ok = np.ones(len(g), bool)
        for b in budgets:
            if not b.worst:
                ok &= means[b.metric] <= b.limit * (1 + 1e-12)
        if not ok.any():
            continue
        prim = means[primary] if primary in means else np.zeros(len(g))
        order = np.lexsort((prim, -acc))  # most accurate, then cheapest
        i = next(i for i in order if ok[i])
        if _better(acc[i], prim[i], best):
            best = (float(acc[i]), float(prim[i]), (*head, float(g[i])))
    if best is None:
        return None
    return best[0], best[1], Committee("cascade", tuple(members), best[2])


def choose(
    probs: Sequence[np.ndarray],
    labels: np.ndarray,
    costs: Sequence[dict],
    budgets: Sequence[CommitteeBudget],
    kinds: Sequence[str] = KINDS,
    max_members: int = 3,
    grid: int = 48,
    names: Sequence[str] | None = None,
) -> dict[str, Committee]:
    """The most accurate committee of each kind of ``kinds`` under every budget on this split
    (ties: the lower expected cost on the first budget's metric, or latency). Kinds no committee
    of meets are left out; when none of any kind does, :class:`CommitteeBudgetError` names the
    cheapest candidate."""
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown committee kind {kind!r}; choose from {', '.join(KINDS)}")
    if max_members < 1:
        raise ValueError("max_members must be at least 1")
    labels = np.asarray(labels)
    primary = next((b.metric for b in budgets if not b.worst), None) or next(
        (b.metric for b in budgets), "latency_ms"
    )
    for b in budgets:
        missing = [i for i, c in enumerate(costs) if b.metric not in c]
        if missing:
            who = ", ".join(names[i] if names else str(i) for i in missing)
            raise ValueError(f"budget {b.text}: no {b.metric} for candidate(s) {who}")
    found: dict[str, Committee] = {}
    picks = {"single": _best_set("single", [1], probs, labels, costs, budgets, primary)}
    if "ensemble" in kinds and max_members >= 2:
        sizes = range(2, max_members + 1)
        picks["ensemble"] = _best_set("ensemble", sizes, probs, labels, costs, budgets, primary)
    if "cascade" in kinds and max_members >= 2:
        order = sorted(range(len(probs)), key=lambda i: (costs[i].get(primary, 0.0), i))
        best = None
        for k in range(2, max_members + 1):
            for members in itertools.combinations(order, k):
                got = _cascade_for(members, probs, labels, costs, budgets, grid, primary)
                if got is not None and _better(got[0], got[1], best):
                    best = got
        picks["cascade"] = best
    for kind, pick in picks.items():
        if pick is not None and kind in kinds:
            c = pick[2]
            c.stats = evaluate(c, probs, labels, costs)
            found[kind] = c
    if not found:
        raise CommitteeBudgetError(_nothing_meets(budgets, costs, names, primary))
    return found


def _nothing_meets(budgets, costs, names, primary) -> str:
    i = min(range(len(costs)), key=lambda i: costs[i].get(primary, 0.0))
    name = names[i] if names else f"candidate {i}"
    have = ", ".join(f"{b.metric} {costs[i][b.metric]:.4g}" for b in budgets)
    asked = ", ".join(b.text for b in budgets)
    return (
        f"no committee meets {asked}: the cheapest candidate, {name}, alone has {have}; "
        "loosen the budgets or add cheaper candidates"
    )
