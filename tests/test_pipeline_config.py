"""The run's nested configuration: presets, TOML, flags, and the flat settings of earlier runs."""

import dataclasses
import json

import pytest

from budgetnas.cli.main import build_parser
from budgetnas.cli.run import config_from_args
from budgetnas.config import to_dict
from budgetnas.pipeline.config import (
    CONFIG_FILE,
    RunConfig,
    load_run_config,
    run_config_toml,
)
from budgetnas.training.config import TrainConfig

# the training configurations the run built before the nested configuration, for its two
# presets (asdict(_train_config(RunConfig.from_preset(p, budgets=[...]))) of the earlier code)
_QUICK_TRAIN = {
    "data": "fashion-mnist",
    "preset": "fmnist-small",
    "data_dir": None,
    "subset": 6000,
    "subset_b": None,
    "epochs_a": 2,
    "epochs_b": 1,
    "batch_size": 128,
    "lr_a": 0.1,
    "lr_b": 0.03,
    "momentum": 0.9,
    "weight_decay": 4e-05,
    "gamma": 1.0,
    "sandwich": True,
    "n_random": 1,
    "augment": True,
    "bn_batches": 1,
    "eval_subset": 500,
    "eval_batch_size": 500,
    "eval_random": 3,
    "inherit": True,
    "stage_a_from": None,
    "max_steps": None,
    "seed": 0,
    "threads": 1,
    "num_workers": 0,
    "device": "cpu",
}
EARLIER_TRAIN = {
    "quick": _QUICK_TRAIN,
    "tiny": {
        **_QUICK_TRAIN,
        "preset": "tiny",
        "subset": 64,
        "epochs_a": 1,
        "batch_size": 32,
        "eval_subset": 32,
        "max_steps": 2,
    },
}

# run_config.json as runs wrote it before config.toml (tiny preset, synthetic data, seed 3)
EARLIER_RUN_CONFIG = {
    "data": "synthetic",
    "preset": "tiny",
    "budgets": ["params_m<=1"],
    "solver": "milp",
    "hardcore_steps": 6,
    "data_dir": None,
    "space_preset": "tiny",
    "subset": 64,
    "epochs_a": 1,
    "epochs_b": 1,
    "batch_size": 32,
    "max_steps": 2,
    "predictor_subset": 32,
    "predictor_batch": 32,
    "bn_batches": 1,
    "passes": 1,
    "predictor_sampling": "independent",
    "jobs": 1,
    "predictor_form": "paths",
    "rerank": 1,
    "finetune_epochs": 1,
    "finetune_subset": 64,
    "finetune_lr": 0.01,
    "lut_repeats": 2,
    "max_rounds": 3,
    "oneshot_subnets": 6,
    "oneshot_heldout": None,
    "supernet": None,
    "seed": 3,
    "threads": 1,
}


@pytest.mark.parametrize("preset", ["quick", "tiny"])
def test_presets_train_the_same_supernet_as_before(preset):
    cfg = RunConfig.from_preset(preset, budgets=["params_m<=1"])
    earlier = TrainConfig.from_dict(EARLIER_TRAIN[preset])
    # how fast and where it trains changed (every core, channels-last, the device found by
    # --device auto), not what it trains
    speed = {"threads": 0, "channels_last": True, "device": "auto"}
    # the quick preset was made for any dataset: its space follows the data ("auto":
    # fmnist-small on Fashion-MNIST), it trains on every image, for longer, without augmentation
    # (CIFAR-10 from its JPEG folder: 67.8% test in 16 minutes; the earlier preset: 30.9%)
    redone = {
        "preset": "auto",
        "subset": None,
        "subset_b": 8000,
        "epochs_a": 3,
        "augment": False,
        "bn_batches": 2,
    }
    chosen = redone if preset == "quick" else {}
    assert cfg.train == dataclasses.replace(earlier, **speed, **chosen)


def test_the_flat_names_of_earlier_releases_still_set_their_settings():
    cfg = RunConfig.from_preset(
        "tiny",
        budgets=["a"],
        predictor_subset=10,
        oneshot_subnets=4,
        finetune_subset=8,
        space_preset="tiny",
        solver="random",
    )
    assert (cfg.predictor.heldout, cfg.predictor.subnets, cfg.finetune.images) == (10, 4, 8)
    assert cfg.search.solver == "random" and cfg.budgets == ["a"]
    with pytest.raises(ValueError, match="unknown run preset"):
        RunConfig.from_preset("huge")
    with pytest.raises(ValueError, match="unknown setting 'frobnicate'"):
        RunConfig.from_preset("tiny", frobnicate=1)


def test_toml_of_a_run_repeats_it(tmp_path):
    cfg = RunConfig.from_preset("quick", budgets=["latency_ms<=6", "params_m<=0.3"], seed=4)
    path = tmp_path / CONFIG_FILE
    path.write_text(run_config_toml(cfg, "quick"))
    again, preset = load_run_config(tmp_path)
    assert again == cfg and preset == "quick"
    # the command line: the file, then the flags over it
    args = build_parser().parse_args(
        [
            "run",
            "--out",
            str(tmp_path / "new"),
            "--config",
            str(path),
            "--epochs-a",
            "5",
            "--predictor-subset",
            "none",
        ]
    )
    from_cli, preset = config_from_args(args)
    assert preset == "quick" and from_cli.train.epochs_a == 5 and from_cli.predictor.heldout is None
    assert to_dict(from_cli.search) == to_dict(cfg.search) and from_cli.budgets == cfg.budgets


def test_flags_keep_their_names_and_defaults():
    args = build_parser().parse_args(
        [
            "run",
            "--out",
            "x",
            "--budget",
            "params_m<=1",
            "--preset",
            "tiny",
            "--space-preset",
            "tiny",
            "--finetune-epochs",
            "3",
            "--oneshot-heldout",
            "40",
            "--rerank",
            "2",
            "--predictor-form",
            "binas",
            "--jobs",
            "2",
            "--no-augment",
        ]
    )
    cfg, preset = config_from_args(args)
    assert preset == "tiny" and cfg.finetune.epochs == 3 and cfg.predictor.subnet_heldout == 40
    assert cfg.search.rerank == 2 and cfg.predictor.form == "binas" and cfg.predictor.jobs == 2
    assert cfg.train.augment is False and cfg.train.preset == "tiny"
    with pytest.raises(ValueError, match="at least one --budget"):
        config_from_args(build_parser().parse_args(["run", "--out", "x"]))


def test_earlier_run_directories_load(tmp_path):
    (tmp_path / "run_config.json").write_text(json.dumps(EARLIER_RUN_CONFIG))
    cfg, preset = load_run_config(tmp_path)
    assert preset == "tiny" and cfg.train.data == "synthetic" and cfg.train.seed == 3
    assert cfg.predictor.heldout == 32 and cfg.train.eval_subset == 32
    assert cfg.predictor.subnets == 6 and cfg.finetune.images == 64
    assert cfg.train == TrainConfig.from_dict(
        {**EARLIER_TRAIN["tiny"], "data": "synthetic", "seed": 3}
    )
    (tmp_path / "run_config.json").write_text(json.dumps({**EARLIER_RUN_CONFIG, "zap": 1}))
    with pytest.raises(ValueError, match="Redo the run"):
        load_run_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        load_run_config(tmp_path / "nothing")
