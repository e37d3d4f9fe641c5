"""Reusable test helpers: synthetic problems and the suite every registered solver must pass."""
