"""Reusable test helpers: synthetic problems and the suite every registered solver must pass."""

__all__: list[str] = []  # import the modules: budgetnas.testing.problems, .pytest_solvers
