import subprocess
import sys

from budgetnas.cli.main import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    assert "bench" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "budgetnas.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("budgetnas ")


def test_import_is_light():
    code = "import sys, budgetnas; budgetnas.parse_budget('latency_ms<=1'); print('torch' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
