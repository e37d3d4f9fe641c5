import numpy as np
import pytest

from budgetnas.predictors.reliability import report_batch_size, split_half


def _counts(true_acc, n_batches, batch, rng):
    """Binomial correct counts per batch for subnets of the given true accuracies."""
    return [(list(rng.binomial(batch, a, size=n_batches)), [batch] * n_batches) for a in true_acc]


def test_split_half_by_hand():
    # 4 subnets, 2 batches: the halves are the batches themselves
    counts = [([8, 7], [10, 10]), ([6, 6], [10, 10]), ([9, 9], [10, 10]), ([5, 6], [10, 10])]
    rep = split_half(counts)
    even = np.array([0.8, 0.6, 0.9, 0.5])
    odd = np.array([0.7, 0.6, 0.9, 0.6])
    r_half = np.corrcoef(even, odd)[0, 1]
    r = 2 * r_half / (1 + r_half)
    assert rep["split_half_pearson"] == pytest.approx(r_half)
    assert rep["reliability"] == pytest.approx(r)
    assert rep["tau_ceiling"] == pytest.approx(2 / np.pi * np.arcsin(np.sqrt(r)))
    assert rep["images_per_half"] == [10, 10] and rep["n"] == 4


def test_ceiling_falls_with_noise_and_matches_a_perfect_predictor():
    from scipy import stats

    rng = np.random.default_rng(0)
    true_acc = rng.uniform(0.85, 0.90, size=400)
    many = split_half(_counts(true_acc, 20, 500, rng))  # 10,000 images per subnet
    few = split_half(_counts(true_acc, 2, 100, rng))  # 200 images per subnet
    assert many["tau_ceiling"] > few["tau_ceiling"] + 0.2
    # the ceiling is what the noise-free accuracies themselves reach against the measured ones
    counts = _counts(true_acc, 10, 200, rng)
    measured = [sum(c) / sum(t) for c, t in counts]
    perfect = stats.kendalltau(true_acc, measured).statistic
    assert split_half(counts)["tau_ceiling"] == pytest.approx(perfect, abs=0.07)


def test_split_half_rejects_what_it_cannot_rank():
    with pytest.raises(ValueError, match="at least 3"):
        split_half([([1, 1], [2, 2])] * 2)
    with pytest.raises(ValueError, match="same >= 2"):
        split_half([([1], [2])] * 3)
    with pytest.raises(ValueError, match="same >= 2"):
        split_half([([1, 1], [2, 2]), ([1, 1, 1], [2, 2, 2]), ([1, 1], [2, 2])])
    with pytest.raises(ValueError, match="do not vary"):
        split_half([([1, 1], [2, 2])] * 3)


def test_report_batch_size_gives_several_batches():
    assert report_batch_size(5000) == 500 and report_batch_size(20000) == 500
    assert report_batch_size(32) == 4 and report_batch_size(3000) == 300
    assert report_batch_size(5) == 1
    with pytest.raises(ValueError):
        report_batch_size(0)


def test_target_reliability_says_why_it_is_missing(tmp_path):
    from budgetnas.predictors.quality import SUBNET_KIND, subnet_key
    from budgetnas.predictors.reliability import recalibration_note, target_reliability
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.store import Store

    class Evaluator:  # what target_reliability reads of a SupernetEvaluator
        space = MobileNetSpace(preset="tiny")

        def fingerprint(self, sampling=True):
            assert sampling is False  # one-shot records do not depend on the path sampling
            return "fp"

    ev, store = Evaluator(), Store(tmp_path / "s.sqlite")
    archs = [ev.space.sample(np.random.default_rng(i)) for i in range(4)]

    def put(records):
        for arch, rec in zip(archs, records, strict=True):
            store.put(SUBNET_KIND, subnet_key("fp", ev.space, arch), rec)

    put([{"acc": 0.5}] * 4)  # records of before the counts were kept
    assert "no counts per held-out batch" in target_reliability(ev, archs, store)["unavailable"]
    put([{"acc": 0.5, "correct": [c], "total": [10]} for c in (3, 4, 5, 6)])  # one batch
    assert "same >= 2" in target_reliability(ev, archs, store)["unavailable"]
    put([{"acc": 0.5, "correct": [c, c + 1], "total": [10, 10]} for c in (3, 4, 5, 6)])
    rel = target_reliability(ev, archs, store)
    assert "unavailable" not in rel and rel["tau_ceiling"] == pytest.approx(1.0)
    # halves that shared one recalibration (an upper bound), or had one each
    assert rel["recalibrations"] == 1 and "upper bound" in recalibration_note(rel)
    ev.bn_halves = True
    rel = target_reliability(ev, archs, store)
    assert rel["recalibrations"] == 2 and "its own" in recalibration_note(rel)
    assert recalibration_note({}) == ""  # records of before it was kept
