"""Reproducible benchmarks behind ``budgetnas bench ...``."""
