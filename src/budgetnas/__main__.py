"""``python -m budgetnas``: the ``budgetnas`` command."""

import sys

if __name__ == "__main__":
    from budgetnas.cli.main import main

    sys.exit(main())
