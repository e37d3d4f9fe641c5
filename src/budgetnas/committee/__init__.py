"""Committees of trained networks under hard budgets: ensembles and cascades
(docs/methods/committees.md)."""

from budgetnas.lazy import lazy_dir, lazy_exports

__all__ = [
    "Cascade",
    "Committee",
    "CommitteeBudgetError",
    "CommitteeConfig",
    "Ensemble",
    "build_committee",
    "choose",
    "evaluate",
    "parse_committee_budgets",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Cascade": "budgetnas.committee.modules",
        "Ensemble": "budgetnas.committee.modules",
        "Committee": "budgetnas.committee.select",
        "CommitteeBudgetError": "budgetnas.committee.select",
        "choose": "budgetnas.committee.select",
        "evaluate": "budgetnas.committee.select",
        "parse_committee_budgets": "budgetnas.committee.select",
        "CommitteeConfig": "budgetnas.committee.config",
        "build_committee": "budgetnas.committee.run",
    },
)
__dir__ = lazy_dir(__name__)
