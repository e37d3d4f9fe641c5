"""One version string: ``budgetnas.__version__`` is the installed distribution's (pyproject.toml)."""

import subprocess
import sys
from importlib import metadata

import pytest

import budgetnas
from budgetnas.cli.main import main


def test_version_is_the_installed_metadata():
    try:
        expected = metadata.version("budgetnas")
    except metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert budgetnas.__version__ == expected
    assert "__version__" in budgetnas.__all__


def test_version_falls_back_when_not_installed(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert budgetnas._version() == "0+unknown"


def test_import_does_not_read_metadata():
    code = (
        "import sys; before = 'importlib.metadata' in sys.modules; import budgetnas; "
        "assert before or 'importlib.metadata' not in sys.modules, 'read at import'; "
        "v = budgetnas.__version__; "
        "assert isinstance(v, str) and v; print(v)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == budgetnas.__version__


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"budgetnas {budgetnas.__version__}"
