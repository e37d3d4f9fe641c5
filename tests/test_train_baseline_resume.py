import pytest
import torch

import budgetnas.models.train as train_mod
from budgetnas.cli.main import main


def argv(out, *extra):
    return [
        "train-baseline",
        "--data",
        "synthetic",
        "--model",
        "resnet8",
        "--width",
        "4",
        "--epochs",
        "3",
        "--subset",
        "64",
        "--batch-size",
        "16",
        "--out",
        str(out),
        *extra,
    ]


def weights(out):
    return torch.load(out / "resnet8_synthetic.pt", weights_only=True)["state_dict"]


def test_resume_after_a_crash_continues_exactly(tmp_path, monkeypatch, capsys):
    assert main(argv(tmp_path / "straight")) == 0
    original = train_mod.train_classifier

    def crash_after_two(*args, on_epoch_end=None, **kwargs):
        def hook(state):
            on_epoch_end(state)  # the state is saved first, as in a real crash after an epoch
            if state["epoch"] == 2:
                raise KeyboardInterrupt

        return original(*args, on_epoch_end=hook, **kwargs)

    monkeypatch.setattr(train_mod, "train_classifier", crash_after_two)
    assert main(argv(tmp_path / "crashed")) != 0
    assert not (tmp_path / "crashed" / "resnet8_synthetic.pt").exists()
    monkeypatch.setattr(train_mod, "train_classifier", original)
    capsys.readouterr()
    assert main(argv(tmp_path / "crashed", "--resume")) == 0
    assert "resuming after epoch 2 of 3" in capsys.readouterr().out
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "crashed")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    straight = torch.load(tmp_path / "straight" / "resnet8_synthetic.pt", weights_only=True)
    resumed = torch.load(tmp_path / "crashed" / "resnet8_synthetic.pt", weights_only=True)
    assert resumed["meta"]["losses"] == pytest.approx(straight["meta"]["losses"], rel=0, abs=0)
    # the training's time counts the epochs of both calls; finishing it again keeps it
    assert main(argv(tmp_path / "crashed", "--resume")) == 0
    again = torch.load(tmp_path / "crashed" / "resnet8_synthetic.pt", weights_only=True)
    assert again["meta"]["train_seconds"] >= resumed["meta"]["train_seconds"] > 0
    state = torch.load(tmp_path / "crashed" / "train_state.pt", weights_only=True)
    assert state["fit"]["seconds"] == pytest.approx(resumed["meta"]["train_seconds"], abs=0.1)


def test_resume_refuses_other_settings(tmp_path, capsys):
    assert main(argv(tmp_path)) == 0
    other = argv(tmp_path, "--resume")
    other[other.index("--epochs") + 1] = "4"
    assert main(other) == 2
    assert "settings differ" in capsys.readouterr().err
