"""PruneConfig: flags generated from it, a TOML file under the flags, the file written back."""

import subprocess
import sys

import pytest

from budgetnas.cli.main import build_parser
from budgetnas.cli.prune import config_from_args
from budgetnas.config import from_dict, load_toml, load_toml_text, to_toml
from budgetnas.pruning.config import PruneConfig
from budgetnas.pruning.result import PruneResult


def parse(*argv):
    return config_from_args(build_parser().parse_args(["prune", *argv]))


def test_flags_keep_the_names_and_defaults_of_the_command():
    cfg = parse()
    assert cfg == PruneConfig()
    assert (cfg.selection.steps, cfg.selection.calibrate, cfg.finetune.gamma) == (4, 0.5, 0.1)
    assert (cfg.dataset.data, cfg.dataset.batch_size, cfg.finetune.recover) == (
        "fashion-mnist",
        128,
        None,
    )
    cfg = parse(
        "--model", "m.pt", "--budget", "flops_ratio<=0.5", "--out", "o", "--ignore", "a",
        "--ignore", "b", "--output-layer", "fc", "--recover", "3", "--calibrate", "0",
        "--solver", "greedy", "--eval-subset", "10", "--model-kwargs", '{"width": 8}',
    )  # fmt: skip
    assert cfg.selection.ignore == ["a", "b"] and cfg.selection.output_layer == ["fc"]
    assert cfg.finetune.recover == 3 and cfg.selection.calibrate == 0.0
    assert cfg.selection.solver == "greedy" and cfg.dataset.eval_subset == 10
    assert cfg.missing() == []
    assert PruneConfig().missing() == ["model", "budget", "out"]
    with pytest.raises(SystemExit):
        parse("--solver", "simplex")


def test_a_toml_file_under_the_flags_and_the_resolved_file_repeats_it(tmp_path):
    path = tmp_path / "prune.toml"
    path.write_text(
        'model = "m.pt"\nbudget = "params_m<=0.1"\nout = "runs/p"\nseed = 3\n'
        '[selection]\nsteps = 2\nignore = ["stem.0"]\n'
        "[finetune]\nepochs = 5\nkl = 0.0\n"
        '[dataset]\ndata = "synthetic"\n'
    )
    cfg = parse("--config", str(path), "--epochs", "2", "--budget", "flops_ratio<=0.4")
    assert cfg.model == "m.pt" and cfg.seed == 3 and cfg.dataset.data == "synthetic"
    assert cfg.selection.steps == 2 and cfg.selection.ignore == ["stem.0"]
    assert cfg.finetune.epochs == 2 and cfg.finetune.kl == 0.0  # the flag wins, the file stays
    assert cfg.budget == "flops_ratio<=0.4"
    # flat names in the file work too
    (tmp_path / "flat.toml").write_text('steps = 1\ncalibrate = "none"\n')
    flat = parse("--config", str(tmp_path / "flat.toml"))
    assert flat.selection.steps == 1 and flat.selection.calibrate is None
    # what prune writes as config.toml gives the same configuration back
    (tmp_path / "config.toml").write_text(to_toml(cfg))
    assert parse("--config", str(tmp_path / "config.toml")) == cfg
    assert from_dict(PruneConfig, load_toml(tmp_path / "config.toml")) == cfg
    assert from_dict(PruneConfig, load_toml_text(to_toml(flat))) == flat
    (tmp_path / "bad.toml").write_text("stepz = 2\n")
    with pytest.raises(ValueError, match="unknown setting 'stepz'"):
        parse("--config", str(tmp_path / "bad.toml"))


def test_prune_result_round_trips_and_reads_partial_files():
    res = PruneResult.from_json({"model": "m.pt", "budget": {"value": 0.4, "old_key": 1}})
    assert res.budget.value == 0.4 and res.method.finetune_losses == []
    assert PruneResult.from_json(res.to_json()) == res
    assert list(res.to_json())[:3] == ["model", "source", "data"]
    assert "network" not in res.to_json()


def test_the_package_and_its_configuration_do_not_import_torch():
    code = (
        "import sys, budgetnas.pruning, budgetnas.pruning.config, budgetnas.pruning.result, "
        "budgetnas.cli.prune; "
        "print(sorted(m for m in ('torch', 'torch_pruning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import budgetnas.pruning as pruning

    assert pruning.prune.__module__ == "budgetnas.pruning.run"
    assert pruning.PruneConfig is PruneConfig
    with pytest.raises(AttributeError):
        pruning.nothing  # noqa: B018


def test_required_settings_are_named_when_missing(tmp_path, capsys):
    from budgetnas.cli.main import main

    assert main(["prune", "--budget", "flops_ratio<=0.5", "--out", str(tmp_path)]) == 2
    assert "missing required settings: --model" in capsys.readouterr().err
