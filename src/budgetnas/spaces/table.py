"""Tabular benchmarks: a table giving every architecture of a space its measured values.

One query of a table's objective column stands for a training run; its cost columns are known for
free, as a measured lookup table would be. Any numeric column may serve as objective, report or
cost (NAS-Bench-201 on other datasets, HW-NAS-Bench devices...).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from budgetnas.arch import Architecture
from budgetnas.costs._base import CostModel
from budgetnas.forms import QuadraticForm
from budgetnas.spaces._base import SearchSpace

__all__ = ["ColumnCost", "Table", "pair_indices"]


class Table:
    """Columns of numbers indexed by architecture.

    Example:
        >>> from budgetnas.spaces import get_space
        >>> space = get_space("nb201")
        >>> archs = list(space.all_archs())[:2]
        >>> t = Table(space, archs, {"valid_acc": np.array([10.0, 20.0])})
        >>> t.value("valid_acc", archs[1])
        20.0
    """

    def __init__(
        self, space: SearchSpace, archs: Sequence[Architecture], columns: dict[str, np.ndarray]
    ):
        self.space = space
        self.archs = list(archs)
        self.index = {a: k for k, a in enumerate(self.archs)}
        if len(self.index) != len(self.archs):
            raise ValueError("the table lists an architecture twice")
        self.columns = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
        for name, col in self.columns.items():
            if col.shape != (len(self.archs),):
                raise ValueError(
                    f"column {name!r} has {col.shape[0]} values for {len(self.archs)} rows"
                )
        #: where the table came from, for the errors (a CSV path once read from one)
        self.source = "table"
        #: column -> (row, cell text) of the first cell of a CSV column that is not a number
        self.bad_cells: dict[str, tuple[int, str]] = {}
        self._checked: set[str] = set()

    @classmethod
    def from_csv(cls, path: str | Path, space: SearchSpace, arch_column: str = "arch_str") -> Table:
        """Read a CSV with one row per architecture and any number of numeric columns."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"table {path} not found; NAS-Bench-201 ships as ../shared/data/nb201/"
                "nb201_cifar10.csv (or pass --table with your own CSV: arch_str + numeric columns)"
            )
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or arch_column not in reader.fieldnames:
                raise ValueError(
                    f"{path}: no {arch_column!r} column (columns: {reader.fieldnames})"
                )
            rows = list(reader)
        if not rows:
            raise ValueError(f"{path}: the table is empty")
        archs = [space.from_string(r[arch_column]) for r in rows]
        columns, bad = {}, {}
        for name in reader.fieldnames:
            if name == arch_column:
                continue
            values, first_bad = _parse_column([r[name] for r in rows])
            if values is not None:
                columns[name] = values
            if first_bad is not None:
                bad[name] = first_bad
        table = cls(space, archs, columns)
        table.source = str(path)
        table.bad_cells = bad
        return table

    def _row_name(self, row: int) -> str:
        return self.space.to_string(self.archs[row])

    def _check_finite(self, name: str) -> None:
        """Refuse a column with a blank, non-numeric, NaN or infinite cell, naming the cell."""
        if name in self.bad_cells:
            row, text = self.bad_cells[name]
            what = "is blank" if not text.strip() else f"is {text!r}, not a number"
            raise ValueError(
                f"{self.source}: column {name!r}, row {self._row_name(row)}: the cell {what}; "
                "fill every cell of the columns used with a finite number"
            )
        col = self.columns[name]
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            raise ValueError(
                f"{self.source}: column {name!r}, row {self._row_name(int(bad[0]))}: value "
                f"{float(col[bad[0]])!r} is not a finite number ({bad.size} such cell(s))"
            )

    def cost_column(self, name: str) -> np.ndarray:
        """Column ``name`` checked as a cost: every cell finite and > 0 (a cost of 0 or less
        would meet any budget), else a ValueError naming the column, the row and the value."""
        col = self.column(name)
        bad = np.flatnonzero(col <= 0)
        if bad.size:
            raise ValueError(
                f"{self.source}: cost column {name!r}, row {self._row_name(int(bad[0]))}: value "
                f"{float(col[bad[0]])!r} is not a positive cost ({bad.size} such cell(s))"
            )
        return col

    @property
    def complete(self) -> bool:
        return len(self.archs) == self.space.size

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            import difflib

            close = difflib.get_close_matches(name, self.columns, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            if name in self.bad_cells:
                self._check_finite(name)  # a column of text or blanks: name its first cell
            raise KeyError(f"no numeric column {name!r}; columns: {', '.join(self.columns)}.{hint}")
        if name not in self._checked:
            self._check_finite(name)
            self._checked.add(name)
        return self.columns[name]

    def value(self, name: str, arch: Architecture) -> float:
        try:
            row = self.index[arch]
        except KeyError:
            raise KeyError(f"architecture {arch} is not in the table") from None
        return float(self.column(name)[row])

    def values(self, name: str, archs: Sequence[Architecture]) -> np.ndarray:
        col = self.column(name)
        return col[[self.index[a] for a in archs]]

    def query(self, name: str):
        """A query function for a column (with a vectorized ``.many``)."""
        self.column(name)

        def fn(arch: Architecture) -> float:
            return self.value(name, arch)

        fn.many = lambda archs: self.values(name, archs)  # type: ignore[attr-defined]
        fn.column = name  # type: ignore[attr-defined]
        return fn

    def cost(self, name: str, metric: str | None = None) -> ColumnCost:
        """Column ``name`` as a cost model (its metric named ``metric``, else ``name``)."""
        return ColumnCost(self, name, metric)


def _parse_column(cells: Sequence[str | None]) -> tuple[np.ndarray | None, tuple[int, str] | None]:
    """The numbers of a CSV column (None when no cell is a number: a text column) and its first
    cell that is not a number (row, text), if any."""
    values = np.full(len(cells), np.nan)
    first_bad = None
    numeric = False
    for k, cell in enumerate(cells):
        try:
            values[k] = float(cell)  # type: ignore[arg-type]
            numeric = True
        except (TypeError, ValueError):
            if first_bad is None:
                first_bad = (k, cell or "")
    return (values if numeric else None), first_bad


def pair_indices(space: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of binaries in different groups (the pairwise features of a space)."""
    g = space.group_of
    i, j = np.triu_indices(space.n_binaries, k=1)
    keep = g[i] != g[j]
    return i[keep], j[keep]


class ColumnCost(CostModel):
    """Exact cost read from a table column, with a least-squares bilinear form and its residual
    bounds over the whole table (0 when the column is exactly additive in the decisions).

    The column holds each whole architecture's cost (a tabular benchmark); the form is fitted to
    it. Not to be confused with :class:`~budgetnas.costs.table.LookupTableCost`, whose cost *is*
    a sum of measured per-block entries, so its form is exact by construction.

    Example:
        >>> from budgetnas.spaces.toy import ToySpace
        >>> space = ToySpace((2, 2))
        >>> archs = list(space.all_archs())
        >>> cost = Table(space, archs, {"ms": np.array([1.0, 2.0, 3.0, 4.0])}).cost("ms")
        >>> cost.evaluate(archs[3]), cost.exact_form
        (4.0, True)
    """

    def __init__(self, table: Table, column: str, metric: str | None = None, pairwise: bool = True):
        self.table = table
        self.column_name = column
        self.metric = metric or column
        self._values = table.cost_column(column)
        self._pairwise = pairwise
        self._form: QuadraticForm | None = None

    def evaluate(self, arch: Architecture) -> float:
        return self.table.value(self.column_name, arch)

    def evaluate_many(self, archs: Sequence[Architecture]) -> np.ndarray:
        return self.table.values(self.column_name, archs)

    def quadratic_form(self) -> QuadraticForm:
        if self._form is None:
            self._form, self._residual = self._fit()
        return self._form

    @property  # the bounds are known once the form is fitted
    def residual_min(self) -> float:  # type: ignore[override]
        self.quadratic_form()
        return self._residual[0]

    @property
    def residual_max(self) -> float:  # type: ignore[override]
        self.quadratic_form()
        return self._residual[1]

    def _fit(self) -> tuple[QuadraticForm, tuple[float, float]]:
        space = self.table.space
        X = space.encode_many(self.table.archs)
        y = self._values
        lin = np.column_stack([np.ones(len(y)), X])
        coef = np.linalg.lstsq(lin, y, rcond=None)[0]
        form = QuadraticForm(coef[0], coef[1:])
        resid = y - form.values(X)
        if self._pairwise and np.abs(resid).max() > 1e-9 * max(1.0, np.abs(y).max()):
            pi, pj = pair_indices(space)
            feats = np.column_stack([lin, X[:, pi] * X[:, pj]])
            gram = feats.T @ feats  # normal equations: the bounds below use the fitted form
            coef = np.linalg.solve(gram + 1e-8 * np.eye(gram.shape[0]), feats.T @ y)
            n = space.n_binaries
            form = QuadraticForm(coef[0], coef[1 : n + 1], pi, pj, coef[n + 1 :])
            resid = y - form.values(X)
        scale = 1e-9 * max(1.0, float(np.abs(y).max()))
        lo, hi = float(resid.min()), float(resid.max())
        # exactly additive columns get exact bounds; otherwise pad by a rounding margin
        return form, (
            0.0 if abs(lo) <= scale else lo - scale,
            0.0 if abs(hi) <= scale else hi + scale,
        )
