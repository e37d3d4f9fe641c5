"""TrainedSupernet: the one way to open a trained supernet with its data and evaluators."""

import pytest

torch = pytest.importorskip("torch")

from budgetnas.predictors.evaluator import SupernetEvaluator  # noqa: E402
from budgetnas.training import SupernetTrainer  # noqa: E402
from budgetnas.training.trained import TrainedSupernet, supernet_checkpoint  # noqa: E402
from conftest import tiny_train_config  # noqa: E402


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    cfg = tiny_train_config(epochs_b=0, subset=32, eval_subset=16, seed=2)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        SupernetTrainer(cfg, out, progress=False).run()
    finally:
        torch.set_num_threads(before)
    return out


def test_opens_a_checkpoint_a_training_folder_or_a_run_directory(trained_dir, tmp_path):
    run = tmp_path / "run" / "supernet"
    run.mkdir(parents=True)
    (run / "supernet.pt").write_bytes((trained_dir / "supernet.pt").read_bytes())
    for path in (trained_dir / "supernet.pt", trained_dir, tmp_path / "run"):
        t = TrainedSupernet.open(path)
        assert t.space.config.name == "tiny" and t.train.seed == 2 and t.result is not None
    with pytest.raises(FileNotFoundError, match="holds no trained supernet"):
        supernet_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no supernet checkpoint"):
        TrainedSupernet.open(tmp_path / "missing.pt")


def test_unfinished_training_is_refused_unless_asked(trained_dir, tmp_path):
    state = torch.load(trained_dir / "supernet.pt", weights_only=True)
    del state["result"]
    torch.save(state, tmp_path / "supernet.pt")
    with pytest.raises(ValueError, match="not a finished training"):
        TrainedSupernet.open(tmp_path)
    assert TrainedSupernet.open(tmp_path, finished=False).result is None


def test_evaluators_are_the_ones_built_by_hand(trained_dir):
    from budgetnas.data import get_dataset, make_loader

    t = TrainedSupernet.open(trained_dir, bn_batches=2, data_dir="elsewhere")
    assert t.train.bn_batches == 2 and t.train.data_dir == "elsewhere"
    t = TrainedSupernet.open(trained_dir)
    kw = t.data_kwargs()
    recal = list(
        make_loader(
            get_dataset("synthetic", "search-train", subset=32, seed=2, **kw),
            16,
            shuffle=True,
            seed=2,
        )
    )
    held = list(
        make_loader(get_dataset("synthetic", "heldout", subset=16, seed=2, **kw), 8, shuffle=False)
    )
    by_hand = SupernetEvaluator(t.net, recal, held, 1, 1, seed=5)
    ev = t.evaluator(16, 8, seed=5)
    assert ev.fingerprint() == by_hand.fingerprint()
    arch = t.space.heaviest()
    assert ev.one_shot_accuracy(arch) == by_hand.one_shot_accuracy(arch)
    assert t.recal_batches() is t.recal_batches()  # built once, shared
    report = t.report_evaluator(16)
    assert report.bn_halves and len(report.eval_batches) >= 2
