"""The run directory as a guarded product: marker, lock, refusal of foreign folders, results of
another configuration moved aside, atomic writes."""

import json

import pytest

from budgetnas.files import atomic_path, write_text_atomic
from budgetnas.pipeline.directory import MARKER, DirectoryInUseError, RunDirectory


def test_a_foreign_non_empty_folder_is_refused_unless_forced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.pt").write_text("my own model")
    with pytest.raises(ValueError, match=r"not a budgetnas run directory.*--force"):
        with RunDirectory(mine).claimed():
            pass
    assert sorted(p.name for p in mine.iterdir()) == ["model.pt"]  # nothing written there
    with RunDirectory(mine, force=True).claimed():
        assert (mine / MARKER).is_file()
    with RunDirectory(mine).claimed():  # marked now: no force needed
        pass
    assert (mine / "model.pt").read_text() == "my own model"


def test_empty_new_and_earlier_run_folders_are_accepted(tmp_path):
    with RunDirectory(tmp_path / "new" / "run").claimed():
        pass
    earlier = tmp_path / "earlier"
    (earlier / "supernet").mkdir(parents=True)
    (earlier / "run_config.json").write_text("{}")
    with RunDirectory(earlier).claimed():
        assert (earlier / MARKER).is_file()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        with RunDirectory(tmp_path / "afile").claimed():
            pass


def test_one_process_at_a_time(tmp_path):
    with RunDirectory(tmp_path / "r").claimed():
        with pytest.raises(DirectoryInUseError, match=r"in use by PID \d+"):
            with RunDirectory(tmp_path / "r").claimed():
                pass
    with RunDirectory(tmp_path / "r").claimed():  # released
        pass


def test_results_of_another_configuration_are_moved_aside(tmp_path):
    out = tmp_path / "r"
    said = []
    with RunDirectory(out).claimed() as d:
        assert d.retire_other_results("budgets = ['a']\n", said.append) is None  # nothing yet
        (out / "config.toml").write_text("budgets = ['a']\n")
        (out / "result.json").write_text("{}")
        (out / "plots").mkdir()
        (out / "store.sqlite").write_text("kept")
        assert d.retire_other_results("budgets = ['a']\n", said.append) is None  # unchanged
        moved = d.retire_other_results("budgets = ['b']\n", said.append)
    assert moved is not None and moved.parent == out / "previous"
    assert sorted(p.name for p in moved.iterdir()) == ["config.toml", "plots", "result.json"]
    assert not (out / "result.json").exists() and (out / "store.sqlite").read_text() == "kept"
    assert said and "configuration changed" in said[0]


def test_an_earlier_flat_configuration_is_compared_too(tmp_path):
    from budgetnas.pipeline.config import RunConfig, run_config_toml

    out = tmp_path / "r"
    (out / "supernet").mkdir(parents=True)
    flat = {"preset": "tiny", "budgets": ["params_m<=1"], "predictor_subset": 32, "seed": 0}
    (out / "run_config.json").write_text(json.dumps(flat))
    (out / "result.json").write_text("{}")
    cfg = RunConfig.from_preset("tiny", budgets=["params_m<=2"])
    with RunDirectory(out).claimed() as d:
        assert d.retire_other_results(run_config_toml(cfg, "tiny"), lambda m: None) is not None
    assert not (out / "run_config.json").exists()


def test_atomic_writes_leave_the_old_file_whole_on_failure(tmp_path):
    path = tmp_path / "result.json"
    write_text_atomic(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "result.json"
    ]


def test_the_run_command_refuses_a_foreign_folder_before_any_work(tmp_path, run_argv, capsys):
    from budgetnas.cli.main import main

    (tmp_path / "notes.txt").write_text("mine")
    assert main(run_argv(tmp_path, "--budget", "params_m<=1")) == 2
    assert "--force" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_where_the_work_runs_keeps_the_results(tmp_path):
    from budgetnas.pipeline.directory import same_results

    local = "budgets = ['a']\n[predictor]\nheldout = 250\njobs = 2\nexecutor = 'local'\n"
    ray = "budgets = ['a']\n[predictor]\nheldout = 250\njobs = 8\nexecutor = 'ray'\n"
    other = "budgets = ['a']\n[predictor]\nheldout = 500\njobs = 2\nexecutor = 'local'\n"
    assert same_results(local, ray) and same_results(local, local)
    assert not same_results(local, other) and not same_results(local, "not = toml = at all")
    out = tmp_path / "r"
    with RunDirectory(out).claimed() as d:
        (out / "config.toml").write_text(local)
        (out / "result.json").write_text("{}")
        assert d.retire_other_results(ray, lambda m: None) is None
        assert (out / "result.json").exists()
        assert d.retire_other_results(other, lambda m: None) is not None
