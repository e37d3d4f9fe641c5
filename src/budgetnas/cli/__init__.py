"""Command-line interface: one module per command, discovered by :mod:`budgetnas.cli.main`."""

__all__: list[str] = []  # import the modules themselves
