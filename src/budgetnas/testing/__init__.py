"""Reusable test helpers: synthetic problems and the suites every registered component must pass.

* :mod:`budgetnas.testing.pytest_solvers`: every registered solver;
* :mod:`budgetnas.testing.pytest_spaces`: every registered search space;
* :mod:`budgetnas.testing.pytest_costs`: every cost model;
* :mod:`budgetnas.testing.problems`: small random bilinear problems with known answers.
"""

__all__: list[str] = []  # import the modules themselves
