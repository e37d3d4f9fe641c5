import os
from pathlib import Path

import pytest
from hypothesis import settings

# the same examples on every run, so CI results are reproducible; HYPOTHESIS_PROFILE=explore
# searches afresh (and found the knapsack overflow that the fixed examples now include)
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]


def data_root() -> Path | None:
    env = os.environ.get("BUDGETNAS_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture
def nb201_csv() -> Path:
    root = data_root()
    path = root / "nb201" / "nb201_cifar10.csv" if root else None
    if path is None or not path.is_file():
        pytest.skip("NAS-Bench-201 table not present (set BUDGETNAS_DATA)")
    return path


@pytest.fixture
def one_thread():
    """One torch thread for the test: the suite runs beside other jobs on 2 shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_train_config(**overrides):
    """A supernet training configuration for tests: the tiny space on synthetic data, 2 steps of
    16 images per epoch, one recalibration batch; ``overrides`` replace any field."""
    from budgetnas.training import TrainConfig

    base = {
        "data": "synthetic",
        "preset": "tiny",
        "epochs_a": 1,
        "epochs_b": 1,
        "batch_size": 16,
        "max_steps": 2,
        "bn_batches": 1,
    }
    return TrainConfig(**{**base, **overrides})


def tiny_run_argv(out, *options: str) -> list[str]:
    """``budgetnas run`` on the tiny preset with synthetic data: ``options``, then ``--out`` last."""
    return ["run", "--data", "synthetic", "--preset", "tiny", *options, "--out", str(out)]


@pytest.fixture(scope="session")
def run_argv():
    """:func:`tiny_run_argv` for tests."""
    return tiny_run_argv


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished ``budgetnas run`` on the tiny preset with synthetic data, made once per session:
    a params budget at half the heaviest network, predictor quality on 6 random subnets.

    Returns a namespace: ``out`` (the run directory), ``argv`` (the command that made it),
    ``limit`` (the params_m budget), ``space`` and ``stdout`` (what the command printed).
    """
    import contextlib
    import io
    from types import SimpleNamespace

    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from budgetnas.cli.main import main
    from budgetnas.spaces.mobilenet import MobileNetSpace

    space = MobileNetSpace(preset="tiny")
    limit = 0.5 * space.count_params(space.heaviest()) / 1e6
    out = tmp_path_factory.mktemp("tiny_run") / "run"
    argv = tiny_run_argv(out, "--budget", f"params_m<={limit}", "--oneshot-subnets", "6")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            assert main(argv) == 0
    finally:
        torch.set_num_threads(before)
    return SimpleNamespace(out=out, argv=argv, limit=limit, space=space, stdout=buf.getvalue())
