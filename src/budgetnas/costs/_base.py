"""Cost models of architectures (docs/methods/costs.md).

A :class:`CostModel` is the exact cost of an architecture (``evaluate``) plus, where one exists, a
quadratic form that agrees with it up to known residual bounds: ``evaluate(a) - form(a)`` lies in
``[residual_min, residual_max]`` for every architecture ``a``. Exact models have both bounds 0.
Solvers use the bounds to stay provably inside a budget.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from budgetnas.arch import Architecture
from budgetnas.forms import QuadraticForm
from budgetnas.units import Budget

__all__ = ["Constraint", "CostModel", "FormCost", "FunctionCost"]


class CostModel(ABC):
    """The exact cost of an architecture on one metric, in the metric's canonical unit."""

    #: canonical metric name, e.g. ``"latency_ms"`` (see :mod:`budgetnas.units`)
    metric: str = ""
    #: bounds on ``evaluate(a) - quadratic_form().value(encode(a))`` over all architectures
    residual_min: float = 0.0
    residual_max: float = 0.0
    #: how :meth:`evaluate` knows the cost: ``"counted"`` (exact, from the architecture alone) or
    #: ``"predicted"`` (a table or model of a device); budget rows report it
    verification: str = "predicted"

    @abstractmethod
    def evaluate(self, arch: Architecture) -> float:
        """The cost of ``arch`` (exact: a table entry, a count or a measurement)."""

    @abstractmethod
    def quadratic_form(self) -> QuadraticForm | None:
        """A bilinear form agreeing with :meth:`evaluate` within the residual bounds, or None."""

    @property
    def exact_form(self) -> bool:
        return self.residual_min == 0.0 and self.residual_max == 0.0


class FunctionCost(CostModel):
    """A cost model from a plain function (and an optional form with its residual bounds)."""

    def __init__(
        self,
        metric: str,
        fn: Callable[[Architecture], float],
        form: QuadraticForm | None = None,
        residual: tuple[float, float] = (0.0, 0.0),
    ):
        self.metric = metric
        self._fn = fn
        self._form = form
        self.residual_min, self.residual_max = map(float, residual)

    def evaluate(self, arch: Architecture) -> float:
        return float(self._fn(arch))

    def quadratic_form(self) -> QuadraticForm | None:
        return self._form


class FormCost(FunctionCost):
    """A cost that *is* a quadratic form (analytic counts, latency lookup tables)."""

    def __init__(self, metric: str, form: QuadraticForm, space):
        super().__init__(metric, lambda a: form.value(space.encode(a)), form)


@dataclass(frozen=True)
class Constraint:
    """A budget bound to the cost model that evaluates it."""

    budget: Budget
    cost: CostModel

    def value(self, arch: Architecture) -> float:
        return self.cost.evaluate(arch)

    def violation(self, arch: Architecture) -> float:
        """``cost - limit``: <= 0 is feasible."""
        return self.budget.evaluate(self.value(arch))

    def feasible(self, arch: Architecture) -> bool:
        return self.budget.feasible(self.value(arch))
