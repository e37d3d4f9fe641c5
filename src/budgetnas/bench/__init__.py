"""Reproducible benchmarks behind ``budgetnas bench ...``."""

__all__: list[str] = []  # import the modules themselves
