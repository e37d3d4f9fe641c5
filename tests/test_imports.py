"""The package and every subpackage import without the heavy dependencies.

Each check runs in a fresh interpreter whose import system refuses torch, scipy, optuna, onnx,
onnxruntime, matplotlib and torch_pruning, as on a machine that only reads results or tables.
"""

import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "scipy", "optuna", "onnx", "onnxruntime", "matplotlib", "torch_pruning")

PACKAGES = [
    "arch",
    "units",
    "registry",
    "store",
    "spaces",
    "costs",
    "search",
    "predictors",
    "training",
    "supernet",
    "models",
    "pruning",
    "data",
    "export",
    "pipeline",
    "bench",
    "testing",
    "cli",
    "training.config",
    "pipeline.stages",
    "models.baseline",
    "lazy",
]

BLOCKER = textwrap.dedent(
    f"""
    import importlib
    import sys

    HEAVY = {set(HEAVY)!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in HEAVY:
                raise ImportError(f"{{name}} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_blocker_blocks():
    out = run_blocked("import numpy\ntry:\n    import torch\nexcept ImportError:\n    print('ok')")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("module", PACKAGES)
def test_imports_without_heavy_dependencies(module):
    out = run_blocked(
        f"""
        import budgetnas
        importlib.import_module("budgetnas.{module}")
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in HEAVY)
        assert not loaded, loaded
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_version_without_heavy_dependencies():
    out = run_blocked("import budgetnas\nprint(budgetnas.__version__)")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip()


def test_training_config_round_trip_without_torch(tmp_path):
    path = tmp_path / "config.json"
    out = run_blocked(
        f"""
        import json
        from budgetnas.training import TrainConfig

        cfg = TrainConfig(epochs_a=1, seed=3)
        with open({str(path)!r}, "w") as fh:
            fh.write(json.dumps({{"train": json.loads(cfg.to_json())}}))
        assert TrainConfig.load({str(path)!r}) == cfg
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]


LAZY_PACKAGES = [
    "budgetnas",
    "budgetnas.costs",
    "budgetnas.data",
    "budgetnas.export",
    "budgetnas.models",
    "budgetnas.pipeline.stages",
    "budgetnas.predictors",
    "budgetnas.pruning",
    "budgetnas.search",
    "budgetnas.spaces",
    "budgetnas.supernet",
    "budgetnas.training",
]


def test_lazy_names_resolve():
    pytest.importorskip("torch")
    import importlib

    import budgetnas.supernet.extract  # noqa: F401  the submodule first, then the function
    from budgetnas import costs, supernet, training

    assert callable(supernet.extract) and supernet.extract.__name__ == "extract"
    for name in LAZY_PACKAGES:
        package = importlib.import_module(name)
        for attr in package.__all__:
            assert getattr(package, attr) is not None, (name, attr)
        assert set(package.__all__) <= set(dir(package)), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = training.nope
    from budgetnas.costs.modules import register_module_counter
    from budgetnas.training.trained import TrainedSupernet

    assert training.TrainedSupernet is TrainedSupernet
    assert costs.register_module_counter is register_module_counter
