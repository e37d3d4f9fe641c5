"""Command-line interface: one module per command, discovered by :mod:`budgetnas.cli.main`."""
