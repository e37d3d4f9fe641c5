"""``budgetnas bench``: one sub-command per registered benchmark, flags from its configuration."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from budgetnas.bench._base import BENCHMARKS, register_benchmark
from budgetnas.cli.main import main
from budgetnas.config import option


@dataclass
class DemoConfig:
    name: str | None = option(None, "what to greet")
    times: int = option(1, "how often")
    sizes: list[float] = option([0.5], "sizes, comma-separated", flag="sizes", sep=",")
    tags: list[str] = option([], "tags, one per flag")
    loud: bool = option(False, "shout")
    limit: int | None = option(None, "an optional cap")


@pytest.fixture
def demo(monkeypatch):
    """A benchmark ``demo greet`` registered for one test; returns the configurations it ran."""
    BENCHMARKS.names()  # the project's benchmarks first, then the demo on top of them
    monkeypatch.setattr(BENCHMARKS, "_entries", dict(BENCHMARKS._entries))
    seen = []

    @register_benchmark(
        "demo greet",
        "say hello",
        DemoConfig,
        summary=lambda cfg: f"hello {cfg.name}" + "!" * cfg.loud,
        exit_code=lambda cfg: 3 if cfg.times > 5 else 0,
        required=("name",),
    )
    def greet(cfg: DemoConfig) -> DemoConfig:
        seen.append(cfg)
        return cfg

    return seen


def test_nested_name_flags_and_summary(demo, capsys):
    argv = ["bench", "demo", "greet", "--name", "x", "--times", "2", "--sizes", "0.1,0.2"]
    argv += ["--sizes", "3", "--tag", "a", "--tag", "b", "--loud", "--limit", "4"]
    assert main(argv) == 0
    assert demo == [DemoConfig("x", 2, [0.1, 0.2, 3.0], ["a", "b"], True, 4)]
    assert capsys.readouterr().out == "hello x!\n"
    assert main(["bench", "demo", "greet", "--name", "y", "--limit", "none"]) == 0
    assert demo[-1] == DemoConfig(name="y")  # the defaults, a list default not shared
    assert main(["bench", "demo", "greet", "--name", "y", "--times", "9"]) == 3  # its exit code


def test_config_file_under_the_flags(demo, tmp_path, capsys):
    path = tmp_path / "demo.toml"
    path.write_text('name = "file"\ntimes = 4\nsizes = [1.5]\n')
    assert main(["bench", "demo", "greet", "--config", str(path), "--times", "5"]) == 0
    assert demo[-1] == DemoConfig(name="file", times=5, sizes=[1.5])
    path.write_text("colour = 1\n")
    assert main(["bench", "demo", "greet", "--name", "x", "--config", str(path)]) == 2
    assert "unknown setting 'colour'" in capsys.readouterr().err
    assert main(["bench", "demo", "greet", "--name", "x", "--config", str(tmp_path / "no")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_required_settings_and_bad_values(demo, capsys):
    assert main(["bench", "demo", "greet"]) == 2
    assert "required: --name" in capsys.readouterr().err and demo == []
    with pytest.raises(SystemExit) as exc:
        main(["bench", "demo", "greet", "--name", "x", "--times", "many"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["bench", "demo", "greet", "--name", "x", "--colour", "red"])
    with pytest.raises(SystemExit) as exc:
        main(["bench", "demo"])  # a group needs one of its benchmarks
    assert exc.value.code == 2


def test_help_lists_groups_and_flags(demo, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "demo benchmarks: greet" in out and "nb201" in out and "baselines" in out
    assert "supernet benchmarks: overhead, ranking, recal-noise" in out
    assert "throughput" in out.split("supernet benchmarks:")[1].split("options:")[0]
    with pytest.raises(SystemExit):
        main(["bench", "demo", "greet", "--help"])
    out = capsys.readouterr().out
    assert "--config FILE.toml" in out and "--sizes" in out and "--no-loud" in out
    assert "what to greet (required)" in out


def test_conflicting_names_are_refused():
    from budgetnas.bench._base import Benchmark
    from budgetnas.cli.bench import _tree

    leaf, group = Benchmark("a", "", DemoConfig, print), Benchmark("a b", "", DemoConfig, print)
    with pytest.raises(ValueError, match="also a group"):
        _tree([leaf, group])
    with pytest.raises(ValueError, match="also a group"):
        _tree([group, leaf])


def test_benchmark_modules_import_no_torch():
    """Building ``budgetnas bench`` imports these modules; the heavy libraries wait for a run."""
    mods = ["nb201", "supernet", "throughput", "baselines", "lut", "milp", "pruning"]
    code = "import sys, budgetnas.cli.bench\n"
    code += "".join(f"import budgetnas.bench.{m}\n" for m in mods)
    code += "print(sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
