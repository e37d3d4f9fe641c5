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


def test_eval_scores_a_path_as_written_out_by_hand(tmp_path, capsys):
    """``budgetnas eval``: the recalibration images of the training (its subset and seed), the
    evaluated subset chosen with seed 0, the training's (or the given) recalibration batches."""
    import json

    import pytest

    torch = pytest.importorskip("torch")
    from budgetnas.data import get_dataset, make_loader
    from budgetnas.training import SupernetTrainer
    from budgetnas.training.evaluate import one_shot_accuracy
    from budgetnas.training.supernet import load_supernet
    from budgetnas.training.trained import TrainedSupernet
    from conftest import tiny_train_config

    torch.set_num_threads(1)
    cfg = tiny_train_config(subset=48, seed=1, epochs_b=0)
    SupernetTrainer(cfg, tmp_path, progress=False).run()
    net, _ = load_supernet(tmp_path / "supernet.pt")
    c = net.space.config
    kw = {"channels": c.in_channels, "image_size": c.image_size, "num_classes": c.num_classes}
    recal = get_dataset("synthetic", "search-train", subset=48, seed=1, **kw)
    held = get_dataset("synthetic", "heldout", subset=20, **kw)
    arch = net.space.sample(3)
    expected = one_shot_accuracy(
        net,
        arch,
        make_loader(recal, cfg.batch_size, shuffle=True, seed=1),
        make_loader(held, cfg.eval_batch_size, shuffle=False),
        2,
    )
    trained = TrainedSupernet.open(tmp_path, bn_batches=2, finished=False)
    rec = trained.score(str(arch), subset=20)
    assert rec["accuracy"] == expected and rec["images"] == 20 and rec["bn_batches"] == 2
    argv = ["eval", "--supernet", str(tmp_path / "supernet.pt"), "--arch", str(arch)]
    assert main([*argv, "--subset", "20", "--bn-batches", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rec
