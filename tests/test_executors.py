"""Executors: the local process pool and Ray give every task's result once, retry a task whose
worker died, and measure the predictor's evaluations exactly as one process does."""

import os
import time
from pathlib import Path

import pytest
import torch

from budgetnas.executors import TaskFailed, get_executor

ray = pytest.importorskip("ray")  # the extra budgetnas[ray], which `make test` installs


def square(x):
    return x * x


def die_once(flag: str, x):
    """Kills its own worker process the first time any task runs with this flag (the flag file
    is written first, so the retry sees it and returns)."""
    path = Path(flag)
    if x == 3 and not path.exists():
        path.write_text("died")
        os._exit(1)
    time.sleep(0.01)
    return x + 100


def always_fails(x):
    raise RuntimeError(f"bad input {x}")


@pytest.fixture(scope="module")
def ray_executor():
    import sys

    from ray import cloudpickle

    # Ray's workers cannot import this test module: its functions travel by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with get_executor("ray", workers=2, retries=2) as ex:
        yield ex


def _executor(name: str, ray_executor):
    if name == "ray-2":  # one Ray for the module, stopped by its fixture
        yield ray_executor
        return
    with get_executor("local", workers=int(name[-1])) as ex:
        yield ex


@pytest.fixture(params=["local-1", "local-2", "ray-2"])
def executor(request, ray_executor):
    yield from _executor(request.param, ray_executor)


@pytest.fixture(params=["local-2", "ray-2"])  # one local worker is this process itself
def pool(request, ray_executor):
    yield from _executor(request.param, ray_executor)


def test_every_task_returns_once(executor):
    got = dict(executor.map(square, [(i,) for i in range(9)]))
    assert got == {i: i * i for i in range(9)}


def test_a_task_whose_worker_dies_is_run_again(pool, tmp_path):
    flag = str(tmp_path / "died")
    got = dict(pool.map(die_once, [(flag, i) for i in range(6)]))
    assert got == {i: i + 100 for i in range(6)} and Path(flag).exists()


def test_a_task_that_keeps_failing_is_named(executor):
    with pytest.raises(TaskFailed, match="task 0 failed after its retries") as err:
        list(executor.map(always_fails, [(0,)]))
    assert err.value.index == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown executor"):
        get_executor("slurm")
    with pytest.raises(ValueError, match="--executor ray"):
        get_executor("local", address="ray://head:10001")
    with pytest.raises(ValueError, match="workers"):
        get_executor("local", workers=0)


def _measured(tiny_run, executor: str, jobs: int, store_path):
    from budgetnas.predictors.fit import PredictorConfig, fit_predictor
    from budgetnas.store import Store
    from budgetnas.training.trained import TrainedSupernet

    trained = TrainedSupernet.open(tiny_run.out / "supernet" / "supernet.pt", finished=False)
    cfg = PredictorConfig(heldout=16, batch=16, subnets=4, jobs=jobs, executor=executor)
    store = Store(store_path)
    logged = []
    result = fit_predictor(trained, cfg, store, log=logged.append)
    return result, store, logged


def test_the_predictor_measured_by_two_ray_workers_equals_the_serial_one(
    tiny_run, tmp_path, ray_executor, one_thread
):
    serial, s_store, _ = _measured(tiny_run, "local", 1, tmp_path / "serial.sqlite")
    par, p_store, logged = _measured(tiny_run, "ray", 2, tmp_path / "ray.sqlite")
    assert any("260 evaluations" in line and "ray (" in line for line in logged)
    assert par.measured_now == 0  # the fit found every expectation the workers returned
    for kind in ("binas", "oneshot"):
        a, b = dict(s_store.items(kind)), dict(p_store.items(kind))
        assert a == b and len(a) == (256 if kind == "binas" else 4)
    assert par.form.linear.tolist() == serial.form.linear.tolist()
    assert par.quality == serial.quality
    # a rerun with records missing measures only those
    gone = p_store.delete(
        "binas", next(iter(dict(p_store.items("binas")))).rsplit("/", 1)[0] + "/g1"
    )
    again, _, logged = _measured(tiny_run, "ray", 2, tmp_path / "ray.sqlite")
    assert gone > 0 and any(f"measuring {gone} evaluations" in line for line in logged)
    assert again.form.linear.tolist() == serial.form.linear.tolist()
    # nothing missing: no task at all
    _, _, logged = _measured(tiny_run, "ray", 2, tmp_path / "ray.sqlite")
    assert not any("measuring" in line and "tasks" in line for line in logged)


def test_the_local_pool_measures_the_same(tiny_run, tmp_path, one_thread):
    serial, s_store, _ = _measured(tiny_run, "local", 1, tmp_path / "serial.sqlite")
    par, p_store, logged = _measured(tiny_run, "local", 2, ":memory:")
    assert any("on local, 2 worker(s)" in line for line in logged)
    assert dict(s_store.items("binas")) == dict(p_store.items("binas"))
    assert par.form.linear.tolist() == serial.form.linear.tolist()


def test_the_parallel_benchmark_reports_equal_records(tiny_run, capsys):
    from budgetnas.cli.main import main

    argv = ["bench", "predictor", "parallel", "--supernet", str(tiny_run.out / "supernet")]
    argv += ["--executor", "local", "--workers", "1,2", "--heldout", "8", "--batch", "8"]
    argv += ["--rounds", "1", "--warmup", "0"]
    assert main(argv) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["same_records"] is True and res["expectations"] == 256
    assert set(res["seconds"]) == {"1", "2"} and res["speedup"]["1"] == 1.0
    assert all(s["rounds"] == 1 and s["min"] > 0 for s in res["seconds"].values())


def test_executor_settings_are_refused_before_any_work():
    from types import SimpleNamespace

    from budgetnas.executors.base import check_executor_settings

    def cfg(**kw):
        return SimpleNamespace(**{"jobs": 1, "executor": "local", "ray_address": None, **kw})

    check_executor_settings(cfg(executor="ray", ray_gpus=1, device="cuda"))
    check_executor_settings(cfg(executor="ray"), device="cpu")
    for bad, match in [
        (cfg(jobs=0), "--jobs must be at least 1"),
        (cfg(executor="dask"), "unknown --executor 'dask'"),
        (cfg(ray_address="head:6379"), "--ray-address needs --executor ray"),
        (cfg(ray_gpus=1), "--ray-gpus needs --executor ray"),
        (cfg(executor="ray", ray_gpus=-1), "--ray-gpus must be 0 or more"),
        (cfg(executor="ray", device="cuda:0"), "give each task a GPU"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_executor_settings(bad)
    with pytest.raises(ValueError, match="give each task a GPU"):
        check_executor_settings(cfg(executor="ray"), device="cuda")  # a run's one device


def test_executor_from_asks_ray_for_the_gpus_per_task(monkeypatch):
    from types import SimpleNamespace

    import budgetnas.executors.base as base

    got = {}
    monkeypatch.setattr(base, "get_executor", lambda *a, **kw: got.update(args=a, **kw))
    s = SimpleNamespace(executor="ray", jobs=4, ray_address="head:6379", ray_gpus=0.5)
    base.executor_from(s)
    assert got == {"args": ("ray", 4), "address": "head:6379", "gpus_per_task": 0.5}
    base.executor_from(SimpleNamespace(executor="local", jobs=2, ray_address=None), workers=3)
    assert got["args"] == ("local", 3) and got["gpus_per_task"] == 0.0


def _sees_a_gpu() -> tuple[bool, str]:
    return torch.cuda.is_available(), os.environ.get("CUDA_VISIBLE_DEVICES", "")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible here)")
def test_a_ray_task_that_asks_for_a_gpu_gets_one():
    pytest.importorskip("ray")
    with get_executor("ray", 1, gpus_per_task=1) as ex:
        [(_, (available, visible))] = list(ex.map(_sees_a_gpu, [()]))
    assert available and visible != ""
