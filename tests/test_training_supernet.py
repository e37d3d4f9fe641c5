"""Supernet training: a 2-batch run on synthetic data, exact resume, distillation loss, CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from budgetnas.cli.main import main
from budgetnas.training import SupernetTrainer, inner_distillation_loss
from budgetnas.training.supernet import load_supernet
from conftest import tiny_train_config

TINY = tiny_train_config(epochs_b=2, bn_batches=2, eval_subset=32, lr_a=0.05, lr_b=0.02)

pytestmark = pytest.mark.usefixtures("one_thread")


def _records(out) -> list[dict]:
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for r in recs:
        r.pop("seconds", None)
    return recs


def _state(out) -> dict:
    return torch.load(out / "supernet.pt", weights_only=True)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    torch.set_num_threads(1)
    return out, SupernetTrainer(TINY, out, progress=False).run()


@pytest.mark.parametrize("stop_after", [1, 2])  # interrupted after stage A / after B epoch 1
def test_resume_continues_exactly(tmp_path, straight_run, stop_after):
    cfg = TINY
    out_a, straight = straight_run
    partial = SupernetTrainer(cfg, tmp_path / "b", progress=False).run(stop_after=stop_after)
    assert partial["stopped"]
    assert len(_records(tmp_path / "b")) == stop_after
    resumed = SupernetTrainer(cfg, tmp_path / "b", progress=False).run(resume=True)
    a, b = _state(out_a), _state(tmp_path / "b")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["teacher"]:
        assert torch.equal(a["teacher"][key], b["teacher"][key]), key
    assert _records(out_a) == _records(tmp_path / "b")
    assert straight["test_acc_heaviest"] == resumed["test_acc_heaviest"]
    # the training's time counts every epoch once, whichever call ran it
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in log if "stage" in r]
    assert resumed["seconds"] == pytest.approx(sum(r["seconds"] for r in epochs))
    again = SupernetTrainer(cfg, tmp_path / "b", progress=False).run(resume=True)
    assert again["seconds"] == resumed["seconds"] > 0  # finishing it again adds nothing
    # the run wrote what the contract promises
    out = out_a
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["preset"] == "tiny" and config["space"]["image_size"] == 16
    stages = [(r.get("stage"), r.get("epoch")) for r in _records(out)]
    assert stages == [("A", 1), ("B", 1), ("B", 2), (None, None)]
    for r in _records(out)[1:3]:  # stage B also scores 3 fixed random paths
        assert r["heldout_acc_random_min"] <= r["heldout_acc_random_mean"]
        assert r["heldout_acc_random_mean"] <= r["heldout_acc_random_max"]


def test_random_path_scores_leave_training_alone(tmp_path, straight_run):
    out_a, _ = straight_run
    SupernetTrainer(replace(TINY, eval_random=0), tmp_path, progress=False).run()
    a, b = _state(out_a), _state(tmp_path)
    for key in a["model"]:
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(a["model"][key], b["model"][key]), key
    assert all("heldout_acc_random_mean" not in r for r in _records(tmp_path))


def test_resume_refuses_changed_settings(tmp_path):
    SupernetTrainer(TINY, tmp_path, progress=False).run(stop_after=1)
    with pytest.raises(ValueError, match="settings differ"):
        SupernetTrainer(replace(TINY, lr_a=0.5), tmp_path, progress=False).run(resume=True)


def test_preset_must_fit_the_data():
    with pytest.raises(ValueError, match="expects 1x28x28"):
        SupernetTrainer(replace(TINY, data="cifar10", preset="fmnist-small"), "/tmp/unused")


def test_distillation_loss_terms():
    torch.manual_seed(0)
    logits = torch.randn(8, 4)
    stages = [torch.randn(8, 3, 2, 2) for _ in range(5)]
    y = torch.randint(0, 4, (8,))
    ce = torch.nn.functional.cross_entropy(logits, y)
    # a student equal to its teacher pays only the label loss
    assert torch.allclose(inner_distillation_loss(logits, stages, logits, stages, y), ce)
    other = [s + 1.0 for s in stages]  # MSE 1 per stage -> 5 / 50
    loss = inner_distillation_loss(logits, stages, logits, other, y, gamma=2.0)
    assert torch.allclose(loss, ce + 2.0 * 0.1)
    assert inner_distillation_loss(logits, stages, -logits, stages, y, gamma=1.0) > ce + 0.1


@pytest.mark.slow
def test_training_learns_synthetic_data(tmp_path):
    # lr 0.05 (the preset's): at 0.1 the tiny network reaches only 0.51 in 4 epochs here, as it did
    # when this test was written (it had never passed on this machine)
    cfg = replace(TINY, epochs_a=4, epochs_b=1, max_steps=None, eval_subset=None)
    result = SupernetTrainer(cfg, tmp_path, progress=False).run()
    assert result["test_acc_heaviest"] > 0.6  # 4 classes: chance is 0.25


def test_cli_train_then_eval(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "synthetic", "--preset", "tiny", "--out", str(out)]
    argv += ["--epochs", "1", "--batch-size", "16", "--max-steps", "1", "--bn-batches", "1"]
    assert main([*argv, "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} >= {"supernet.pt", "config.json", "log.jsonl"}
    capsys.readouterr()
    net, _ = load_supernet(out / "supernet.pt")
    arch = net.space.sample(0)
    code = main(["eval", "--supernet", str(out / "supernet.pt"), "--arch", str(arch), "--json"])
    rec = json.loads(capsys.readouterr().out)
    assert code == 0 and rec["arch"] == str(arch) and rec["split"] == "heldout"
    assert 0.0 <= rec["accuracy"] <= 1.0 and rec["images"] == 64
    assert main(["eval", "--supernet", str(out / "supernet.pt"), "--arch", "e3k3"]) == 2
    assert "not a mobilenet architecture string" in capsys.readouterr().err
    assert main(["eval", "--supernet", str(tmp_path / "none.pt"), "--arch", "heaviest"]) == 2


def _heaviest_logits(net, space, x):
    net.eval().set_active(space.heaviest())
    with torch.no_grad():
        return net(x)


def test_stage_a_from_another_run(tmp_path):
    source = tmp_path / "a"
    SupernetTrainer(replace(TINY, epochs_b=0), source, progress=False).run()
    cfg = replace(TINY, epochs_a=0, epochs_b=1, stage_a_from=str(source / "supernet.pt"))
    SupernetTrainer(cfg, tmp_path / "b", progress=False).run()
    src, _ = load_supernet(source / "supernet.pt")
    net, ckpt = load_supernet(tmp_path / "b" / "supernet.pt")
    teacher = type(net)(net.space)
    teacher.load_state_dict(ckpt["teacher"])
    c = src.space.config
    x = torch.randn(4, c.in_channels, c.image_size, c.image_size)
    # the teacher of stage B is the source's stage A (channels sorted: the same function)
    assert torch.allclose(
        _heaviest_logits(teacher, net.space, x), _heaviest_logits(src, src.space, x), atol=1e-5
    )
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log[0]["stage"] == "A" and log[0]["from"] == str(source / "supernet.pt")
    assert [r.get("stage") for r in log[1:]] == ["B", None]  # one B epoch, then the final line
    # a stage-B checkpoint gives its teacher: a third run starts from the same weights
    cfg_c = replace(cfg, stage_a_from=str(tmp_path / "b" / "supernet.pt"))
    SupernetTrainer(cfg_c, tmp_path / "c", progress=False).run()
    _, ckpt_c = load_supernet(tmp_path / "c" / "supernet.pt")
    assert all(torch.equal(ckpt_c["teacher"][k], t) for k, t in ckpt["teacher"].items())


def test_stage_a_from_refusals(tmp_path):
    unfinished = tmp_path / "u"
    SupernetTrainer(replace(TINY, epochs_a=2), unfinished, progress=False).run(stop_after=1)
    with pytest.raises(ValueError, match="no finished stage A"):
        cfg = replace(TINY, epochs_a=0, stage_a_from=str(unfinished / "supernet.pt"))
        SupernetTrainer(cfg, tmp_path / "x", progress=False).run()
    b_only = tmp_path / "b"  # a stage B from random weights has no stage A to give
    SupernetTrainer(replace(TINY, epochs_a=0, epochs_b=1), b_only, progress=False).run()
    with pytest.raises(ValueError, match="no finished stage A"):
        cfg = replace(TINY, epochs_a=0, stage_a_from=str(b_only / "supernet.pt"))
        SupernetTrainer(cfg, tmp_path / "x2", progress=False).run()
    with pytest.raises(ValueError, match="epochs_a must be 0"):
        cfg = replace(TINY, stage_a_from=str(unfinished / "supernet.pt"))
        SupernetTrainer(cfg, tmp_path / "y", progress=False).run()
    with pytest.raises(FileNotFoundError, match="no supernet checkpoint"):
        cfg = replace(TINY, epochs_a=0, stage_a_from=str(tmp_path / "missing.pt"))
        SupernetTrainer(cfg, tmp_path / "z", progress=False).run()
    other = torch.load(unfinished / "supernet.pt", weights_only=True)
    other["space"]["width_mult"] = 2.0
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="another space"):
        cfg = replace(TINY, epochs_a=0, stage_a_from=str(tmp_path / "other.pt"))
        SupernetTrainer(cfg, tmp_path / "v", progress=False).run()
    args = ["train", "--data", "synthetic", "--preset", "tiny", "--out", str(tmp_path / "w")]
    assert main([*args, "--stage-a-from", "x.pt", "--epochs-a", "1"]) == 2


def test_cli_stage_a_from_sets_stage_b_epochs():
    import argparse

    from budgetnas.cli import train as train_cli

    parser = argparse.ArgumentParser()
    train_cli.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--out", "o", "--stage-a-from", "s.pt", "--epochs", "3"])
    cfg = train_cli.config_from_args(args)
    assert (cfg.epochs_a, cfg.epochs_b, cfg.stage_a_from, cfg.inherit) == (0, 3, "s.pt", True)
    args = parser.parse_args(["train", "--out", "o", "--no-inherit"])
    assert train_cli.config_from_args(args).inherit is False


# ---- a folder that already holds a training: --resume, --fresh, refusal -----------------------
def _train_argv(out) -> list[str]:
    argv = ["train", "--data", "synthetic", "--preset", "tiny", "--epochs", "1"]
    return [*argv, "--batch-size", "16", "--max-steps", "1", "--bn-batches", "1", "--out", str(out)]


def test_cli_resume_reads_the_saved_settings(tmp_path, straight_run, capsys):
    out_a, _ = straight_run
    out = tmp_path / "b"
    SupernetTrainer(TINY, out, progress=False).run(stop_after=1)
    # no flag repeated: the settings come from OUT/config.json
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    a, b = _state(out_a), _state(out)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert _records(out_a) == _records(out)
    # a flag repeating a saved value is accepted; one changing it is refused, named
    from budgetnas.training.resume import resume_settings

    assert resume_settings(out, {"lr_a": TINY.lr_a, "preset": "tiny"})["lr_a"] == TINY.lr_a
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--lr-a", "0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"lr_a (saved {TINY.lr_a!r}, given 0.5)" in err and "--fresh" in err


def test_train_refuses_a_started_folder_without_resume_or_fresh(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*_train_argv(out), "--no-progress"]) == 0
    before = {name: (out / name).read_bytes() for name in ("supernet.pt", "log.jsonl")}
    capsys.readouterr()
    assert main([*_train_argv(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "already holds a training" in err and "--resume" in err and "--fresh" in err
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing touched
    with pytest.raises(ValueError, match="already holds a training"):
        SupernetTrainer(tiny_train_config(), out, progress=False).run()
    assert main([*_train_argv(out), "--resume", "--fresh"]) == 2
    # --fresh starts over, the earlier files moved aside (not deleted)
    assert main([*_train_argv(out), "--fresh", "--no-progress"]) == 0
    aside = out / "previous-1"
    assert {name: (aside / name).read_bytes() for name in before} == before
    assert (aside / "config.json").is_file() and (out / "supernet.pt").is_file()
    assert len(_records(out)) == len(_records(aside))  # a whole new log, not appended


def test_auto_preset_follows_the_data_and_is_saved_by_name(tmp_path):
    # synthetic data shaped 3 x 16 x 16, 4 classes: auto derives 16px-rgb-4cls
    cfg = replace(TINY, preset="auto")
    trainer = SupernetTrainer(cfg, tmp_path, progress=False)
    assert trainer.cfg.preset == "16px-rgb-4cls"
    assert trainer.space.config.image_size == 16 and trainer.space.config.num_classes == 4
    trainer.run(stop_after=1)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["preset"] == "16px-rgb-4cls"  # the name, never "auto"
    # resuming with "auto" again is the same configuration
    SupernetTrainer(cfg, tmp_path, progress=False).run(resume=True)


def test_a_preset_that_does_not_fit_names_the_one_that_does():
    with pytest.raises(ValueError, match="auto chooses 'cifar-small'"):
        SupernetTrainer(replace(TINY, data="cifar10", preset="fmnist-small"), "/tmp/unused")
