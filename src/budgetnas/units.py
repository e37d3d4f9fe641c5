"""Budgets with units, parsed from text: ``latency_ms<=3.5``, ``params_m<=1.2``, ``flops_m<=300``.

One constraint convention everywhere (as Optuna's ``constraints_func``): a budget evaluates a cost
value to ``value - limit``; ``<= 0`` is feasible. Every limit is converted to the canonical unit of
its quantity (latency in ms, energy in mJ, counts in millions, memory in kB = 1000 bytes), so
seconds and milliseconds are never mixed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "QUANTITIES",
    "RELATIVE",
    "UNIT_FAMILIES",
    "Budget",
    "BudgetError",
    "parse_budget",
    "parse_budgets",
    "split_metric",
    "to_canonical",
]


class BudgetError(ValueError):
    """A budget string that cannot be understood (unknown metric, missing unit, bad value)."""


# family -> (canonical unit, {unit: factor to canonical})
UNIT_FAMILIES: dict[str, tuple[str, dict[str, float]]] = {
    "time": ("ms", {"ms": 1.0, "us": 1e-3, "s": 1e3}),
    "energy": ("mj", {"mj": 1.0, "uj": 1e-3, "j": 1e3}),
    "count": ("m", {"k": 1e-3, "m": 1.0, "g": 1e3}),
    "bytes": ("kb", {"b": 1e-3, "kb": 1.0, "mb": 1e3, "kib": 1.024, "mib": 1048.576}),
    "ratio": ("ratio", {"ratio": 1.0, "pct": 1e-2}),
}

# quantity (or quantity prefix, for device-qualified names such as lat_pixel3) -> family
QUANTITIES: dict[str, str] = {
    "latency": "time",
    "lat": "time",
    "energy": "energy",
    "flops": "count",
    "macs": "count",
    "params": "count",
    "peak": "bytes",
    "memory": "bytes",
}
# quantities that may also be given relative to a reference network (``flops_ratio<=0.5``)
RELATIVE = {"flops", "macs", "params", "latency", "energy"}

_BUDGET_RE = re.compile(
    r"^\s*(?P<name>[A-Za-z][A-Za-z0-9_]*)\s*(?P<op><=|>=|==|=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[A-Za-z%]*)\s*$"
)


def split_metric(name: str) -> tuple[str, str, str]:
    """Split ``lat_pixel3_ms`` into (quantity ``lat_pixel3``, family ``time``, unit ``ms``)."""
    name = name.strip().lower()
    quantity, _, unit = name.rpartition("_")
    if not quantity:
        quantity, unit = name, ""
    if unit and not _family_of(quantity) and _family_of(name):
        quantity, unit = name, ""  # e.g. "latency_pixel3" without a unit
    family = _family_of(quantity)
    if family is None:
        known = sorted(QUANTITIES)
        close = difflib.get_close_matches(quantity.split("_")[0], known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise BudgetError(
            f"unknown metric {name!r}: the quantity must be one of {', '.join(known)} "
            f"(optionally with a device, e.g. latency_pixel3_ms).{hint}"
        )
    if not unit:
        units = ", ".join(UNIT_FAMILIES[family][1])
        raise BudgetError(
            f"metric {name!r} has no unit: write it as {quantity}_<unit> with unit one of {units} "
            f"(e.g. {quantity}_{UNIT_FAMILIES[family][0]})"
        )
    base = quantity.split("_")[0]
    units = dict(UNIT_FAMILIES[family][1])
    if base in RELATIVE:
        units.update(UNIT_FAMILIES["ratio"][1])
    if unit not in units:
        raise BudgetError(f"unknown unit {unit!r} for {quantity!r}: use one of {', '.join(units)}")
    if unit in UNIT_FAMILIES["ratio"][1]:
        family = "ratio"
    return quantity, family, unit


def _family_of(quantity: str) -> str | None:
    if quantity in QUANTITIES:
        return QUANTITIES[quantity]
    head = quantity.split("_")[0]
    if head in QUANTITIES and re.fullmatch(r"[a-z][a-z0-9_]*", quantity):
        return QUANTITIES[head]
    return None


def to_canonical(quantity: str, unit: str, value: float) -> tuple[str, float]:
    """Convert ``value`` in ``unit`` to the canonical unit; returns (canonical metric, value)."""
    family = "ratio" if unit in UNIT_FAMILIES["ratio"][1] else _family_of(quantity)
    if family is None:
        raise BudgetError(f"no unit family for {quantity!r} (unit {unit!r})")
    canon, factors = UNIT_FAMILIES[family]
    return f"{quantity}_{canon}", value * factors[unit]


@dataclass(frozen=True)
class Budget:
    """An upper limit on one metric, in the metric's canonical unit.

    Example:
        >>> b = parse_budget("latency_us<=2500")
        >>> b.metric, b.limit
        ('latency_ms', 2.5)
        >>> b.evaluate(2.0), b.feasible(2.0)
        (-0.5, True)
    """

    metric: str
    limit: float
    text: str = ""

    def __post_init__(self) -> None:
        if not math.isfinite(self.limit) or self.limit <= 0:
            raise BudgetError(f"budget {self.text or self.metric} must be positive and finite")

    @property
    def quantity(self) -> str:
        return self.metric.rpartition("_")[0]

    @property
    def unit(self) -> str:
        return self.metric.rpartition("_")[2]

    def evaluate(self, value: float) -> float:
        """``value - limit``: <= 0 is feasible (Optuna's convention)."""
        return float(value) - self.limit

    def slack(self, value: float) -> float:
        return self.limit - float(value)

    @property
    def tolerance(self) -> float:
        """Rounding allowance of the feasibility test, the same everywhere (vectorized code
        compares ``value <= limit + tolerance``)."""
        return 1e-9 * max(1.0, abs(self.limit))

    def feasible(self, value: float) -> bool:
        return self.evaluate(value) <= self.tolerance

    def with_limit(self, limit: float) -> Budget:
        return Budget(self.metric, float(limit), f"{self.metric}<={limit:g}")

    def __str__(self) -> str:
        return f"{self.metric}<={self.limit:g}"


def parse_budget(text: str, metrics: Iterable[str] | None = None) -> Budget:
    """Parse ``metric_unit<=value`` (or ``metric<=value unit``) into a :class:`Budget`.

    ``metrics``, when given, lists the canonical metrics that something can evaluate (for
    example the numeric columns of a table); a budget on anything else is refused.
    """
    if text is not None and not isinstance(text, str):
        raise BudgetError(f"a budget is a string like 'latency_ms<=3.5', not {text!r}")
    match = _BUDGET_RE.match(text or "")
    if not match:
        raise BudgetError(
            f"malformed budget {text!r}: expected METRIC_UNIT<=VALUE, e.g. 'latency_ms<=3.5'"
        )
    name, op, raw, suffix = match.group("name", "op", "value", "unit")
    if op != "<=":
        what = "upper limits written with '<='" if op in {"<", "=", "=="} else "upper limits"
        raise BudgetError(f"budget {text!r}: budgets are {what}, e.g. '{name}<={raw}'")
    value = float(raw)
    if suffix:
        if _has_unit(name):
            raise BudgetError(f"budget {text!r} gives a unit twice")
        name = f"{name}_{suffix.lower().replace('%', 'pct')}"
    quantity, _family, unit = split_metric(name)
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"budget {text!r}: the limit must be a positive number, got {raw}")
    metric, limit = to_canonical(quantity, unit, value)
    if not math.isfinite(limit) or limit <= 0:
        raise BudgetError(
            f"budget {text!r}: the limit {raw} is out of range once converted to {metric}"
        )
    if metrics is not None:
        known = list(metrics)
        if metric not in known:
            close = difflib.get_close_matches(metric, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise BudgetError(
                f"no cost model for metric {metric!r} here; available: {', '.join(known)}.{hint}"
            )
    return Budget(metric, limit, text.strip())


def _has_unit(name: str) -> bool:
    try:
        split_metric(name)
    except BudgetError:
        return False
    return True


def parse_budgets(texts: Iterable[str], metrics: Iterable[str] | None = None) -> list[Budget]:
    """Parse several budgets; one metric may appear only once."""
    known = None if metrics is None else list(metrics)
    budgets = [parse_budget(t, known) for t in texts]
    seen: set[str] = set()
    for b in budgets:
        if b.metric in seen:
            raise BudgetError(f"two budgets on {b.metric}: give each metric once")
        seen.add(b.metric)
    return budgets
