"""From a predictor to a shipped network: search under hard budgets, the closed loop on the
device (:mod:`budgetnas.pipeline.search`, whose names this package exports), and the one-command
pipeline (``budgetnas run``: :mod:`budgetnas.pipeline.run`). Imports no torch at import time."""

from budgetnas.pipeline import search as _search
from budgetnas.pipeline.search import *  # noqa: F403

__all__ = list(_search.__all__)
