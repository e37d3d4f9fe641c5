import numpy as np
import pytest

torch = pytest.importorskip("torch")

from budgetnas.data import get_dataset, make_loader  # noqa: E402
from budgetnas.predictors.binas import BinasPredictor, measure_expectations  # noqa: E402
from budgetnas.predictors.evaluator import (  # noqa: E402
    SupernetEvaluator,
    decisions,
    distribution_rng,
    sample_path,
)
from budgetnas.predictors.quality import quality_report, random_subnet_accuracies  # noqa: E402
from budgetnas.spaces.mobilenet import DEPTHS, MobileNetSpace  # noqa: E402
from budgetnas.store import Store  # noqa: E402
from budgetnas.supernet import MobileNetSupernet  # noqa: E402
from budgetnas.training.evaluate import one_shot_accuracy  # noqa: E402


@pytest.fixture(scope="module")
def evaluator():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    space = MobileNetSpace(preset="tiny")
    net = MobileNetSupernet(space)
    # a few steps on random paths so that decisions change the accuracy
    train = make_loader(get_dataset("synthetic", "search-train", subset=128), 32, True)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    net.train()
    for _ in range(3):
        for x, y in train:
            net.set_active(space.sample(rng))
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    net.eval()
    recal = list(make_loader(get_dataset("synthetic", "search-train", subset=32), 16, False))
    held = list(make_loader(get_dataset("synthetic", "heldout", subset=32), 16, False))
    return SupernetEvaluator(net, recal, held, bn_batches=1, passes=1, seed=3)


def _by_hand(ev, fixed, key):
    """E[acc | fixed] written out from the definition: a fresh path per held-out batch, pass after
    pass, its BatchNorm statistics re-estimated before it classifies the batch. Paired sampling
    draws the base paths of A0 for every key; independent sampling a stream of the key's own."""
    net, space = ev.supernet, ev.space
    rng = distribution_rng(ev.seed, "A0" if ev.sampling == "paired" else key)
    correct = total = 0
    for _ in range(ev.passes):
        for x, y in ev.eval_batches:
            arch = sample_path(space, fixed, rng)
            assert all(arch.choices[g] == c for g, c in fixed.items())
            acc = one_shot_accuracy(net, arch, ev.recal_batches, [(x, y)], ev.bn_batches)
            correct += round(acc * len(y))
            total += len(y)
    return correct / total


class FakeEvaluator:
    """A known additive accuracy: every forced decision shifts the expectation by a fixed amount."""

    def __init__(self, space, fail_after=None):
        self.space = space
        self.calls = 0
        self.fail_after = fail_after
        rng = np.random.default_rng(0)
        self.shift = rng.normal(0, 0.01, size=space.n_binaries)

    def fingerprint(self):
        return "fake"

    def expected_accuracy(self, fixed, key):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        if key == "A0":
            return 0.5
        g, c = next(iter(fixed.items()))
        return 0.5 + self.shift[self.space.offsets[g] + c]


def test_decisions_fix_depth_for_blocks_3_and_4():
    space = MobileNetSpace(preset="tiny")
    ds = dict(decisions(space))
    assert len(ds) == 255
    assert ds["g0c5"] == {0: 5}
    assert ds["g2c7"] == {2: 7, space.depth_group(0): DEPTHS.index(3)}
    assert ds["g7c0"] == {7: 0, space.depth_group(1): DEPTHS.index(4)}
    assert ds["g20c2"] == {20: 2}


def test_coefficients_are_forced_minus_uniform(evaluator):
    space = evaluator.space
    store = Store(":memory:")  # the second fit below reads the expectations back
    pred = BinasPredictor(store=store).fit(evaluator)
    assert pred.n_measured_ == 256
    assert np.ptp(list(pred.accuracies_.values())) > 0  # decisions do change the accuracy
    a0 = _by_hand(evaluator, {}, "A0")
    assert pred.intercept_ == pytest.approx(a0)
    form = pred.quadratic_form()
    off = space.offsets
    # block 1 of stage 2 in option 11: a linear term
    key, fixed = "g4c11", {4: 11}
    assert form.linear[off[4] + 11] == pytest.approx(_by_hand(evaluator, fixed, key) - a0)
    # depth 3 of stage 1: a linear term on beta
    dg = space.depth_group(0)
    assert form.linear[off[dg] + 1] == pytest.approx(_by_hand(evaluator, {dg: 1}, f"g{dg}c1") - a0)
    # block 3 of stage 1 in option 3: forced with depth 3, a pair term with depths 3 and 4 only
    # relative to E[acc | depth = 3], the depth where block 3 is the last one
    at_depth3 = _by_hand(evaluator, {dg: 1}, f"g{dg}c1")
    d = _by_hand(evaluator, {2: 3, dg: 1}, "g2c3") - at_depth3
    assert pred.block_coef_[0, 2, 3] == pytest.approx(d)
    literal = BinasPredictor(center="a0", store=store).fit(evaluator)
    assert literal.n_measured_ == 0  # the centering changes no evaluation
    assert literal.block_coef_[0, 2, 3] == pytest.approx(d + at_depth3 - a0)
    pairs = {(i, j): w for i, j, w in zip(form.pair_i, form.pair_j, form.pair_w, strict=True)}
    i = off[2] + 3
    assert (i, off[dg] + 0) not in pairs
    if d != 0:
        assert pairs[(i, off[dg] + 1)] == pytest.approx(d)
        assert pairs[(i, off[dg] + 2)] == pytest.approx(d)
    # the form on an architecture is A0 plus the coefficients of its active decisions
    arch = space.sample(5)
    expected = pred.intercept_
    for s, blocks in enumerate(space.stage_blocks(arch)):
        expected += pred.depth_coef_[s, DEPTHS.index(len(blocks))]
        for b, cfg in enumerate(blocks):
            expected += pred.block_coef_[s, b, cfg.index]
    assert form.value(space.encode(arch)) == pytest.approx(expected)


def test_fake_evaluator_structure_and_resume(tmp_path):
    space = MobileNetSpace(preset="tiny")
    store = Store(tmp_path / "s.sqlite")
    ev = FakeEvaluator(space, fail_after=100)
    with pytest.raises(KeyboardInterrupt):
        BinasPredictor(store=store).fit(ev)
    assert ev.calls == 100
    ev.fail_after = None
    # center="a0": this fake shifts E[acc] by a fixed amount per forced decision, which is the
    # literal reading (every coefficient relative to A0)
    pred = BinasPredictor(store=store, center="a0").fit(ev)
    assert ev.calls == 256  # only the 156 missing ones were measured on resume
    assert pred.n_measured_ == 156
    again = BinasPredictor(store=store).fit(ev)
    assert again.n_measured_ == 0 and ev.calls == 256
    form = pred.quadratic_form()
    # linear coefficients for blocks 1-2 and depths are exactly the shifts; pairs for 3/4
    for s in range(5):
        for b in range(2):
            sl = space.group_slice(space.block_group(s, b))
            np.testing.assert_allclose(form.linear[sl], ev.shift[sl], atol=1e-12)
        sl = space.group_slice(space.depth_group(s))
        np.testing.assert_allclose(form.linear[sl], ev.shift[sl], atol=1e-12)
    # a depth-4 arch: value = A0 + all active shifts
    arch = space.heaviest()
    x = space.encode(arch)
    assert form.value(x) == pytest.approx(0.5 + ev.shift @ x)
    # a depth-2 arch ignores blocks 3 and 4 entirely
    arch = space.smallest()
    x = space.encode(arch)
    active = x.copy()
    for s in range(5):
        for b in (2, 3):
            active[space.group_slice(space.block_group(s, b))] = 0
    assert form.value(x) == pytest.approx(0.5 + ev.shift @ active)
    assert set(pred.interpretation()) == {f"stage{s}" for s in range(1, 6)}


def test_shards_measure_disjoint_parts_that_a_fit_then_finds_in_the_store(tmp_path):
    space = MobileNetSpace(preset="tiny")
    store = Store(tmp_path / "s.sqlite")
    workers = [FakeEvaluator(space) for _ in range(3)]
    parts = [measure_expectations(ev, store, shard=(i, 3)) for i, ev in enumerate(workers)]
    keys = [set(acc) for acc, _ in parts]
    assert [len(k) for k in keys] == [86, 85, 85]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert [ev.calls for ev in workers] == [86, 85, 85]
    fit = FakeEvaluator(space)
    pred = BinasPredictor(store=store, center="a0").fit(fit)
    assert fit.calls == 0 and pred.n_measured_ == 0
    np.testing.assert_allclose(
        pred.quadratic_form().linear,
        BinasPredictor(center="a0").fit(FakeEvaluator(space)).quadratic_form().linear,
    )
    with pytest.raises(ValueError, match="shard"):
        measure_expectations(fit, store, shard=(3, 3))


def test_quality_report_and_random_subnets(evaluator, tmp_path):
    rep = quality_report([1, 2, 3, 4], [1, 2, 4, 3])
    assert rep["kendall_tau"] == pytest.approx(2 / 3)
    assert rep["spearman"] == pytest.approx(0.8)
    assert rep["rmse"] == pytest.approx(np.sqrt(0.5))
    assert rep["n"] == 4
    store = Store(tmp_path / "s.sqlite")
    archs, accs = random_subnet_accuracies(evaluator, 3, store=store)
    assert len(archs) == 3 and np.all((accs >= 0) & (accs <= 1))
    assert accs[0] == pytest.approx(evaluator.one_shot_accuracy(archs[0]))
    assert len(list(store.items("oneshot"))) == 3
    # every record keeps its counts per held-out batch, which give the target's reliability
    from budgetnas.predictors.reliability import stored_subnet_counts

    counts = stored_subnet_counts(evaluator, archs, store)
    assert [len(c) for c, _ in counts] == [len(evaluator.eval_batches)] * 3
    assert [sum(c) / sum(t) for c, t in counts] == pytest.approx(list(accs))
    assert stored_subnet_counts(evaluator, archs, Store(tmp_path / "empty.sqlite")) is None
    with pytest.raises(ValueError):
        quality_report([1.0], [1.0])


def test_expectations_keep_their_evaluated_paths(evaluator, tmp_path):
    from budgetnas.predictors.binas import STORE_KIND
    from budgetnas.predictors.paths import PathRegressionPredictor, stored_path_samples

    store = Store(tmp_path / "s.sqlite")
    acc, measured = measure_expectations(evaluator, store, shard=(0, 64))  # A0 and 3 decisions
    assert measured == 4
    fp = evaluator.fingerprint()
    for key, value in acc.items():
        rec = store.get(STORE_KIND, f"{fp}/{key}")
        assert len(rec["paths"]) == len(evaluator.eval_batches) * evaluator.passes
        assert sum(rec["correct"]) / sum(rec["total"]) == pytest.approx(value)
        fixed = {int(g): c for g, c in rec["fixed"].items()}  # JSON keys are strings
        assert value == pytest.approx(evaluator.expected_accuracy(fixed, key))
        for path in rec["paths"]:
            assert all(path[g] == c for g, c in fixed.items())
    samples = stored_path_samples(store, fp)
    assert len(samples["paths"]) == 4 * len(evaluator.eval_batches)
    pred = PathRegressionPredictor().fit_samples(evaluator.space, samples)
    assert np.isfinite(pred.predict_archs([evaluator.space.heaviest()])).all()


class AdditiveEvaluator:
    """Exact expectations of an additive accuracy under uniform paths: ``0.5`` plus a weight per
    active block option and per stage depth (blocks beyond the depth contribute nothing)."""

    def __init__(self, space, seed=0):
        from budgetnas.spaces.mobilenet import MAX_DEPTH, N_BLOCK_OPTIONS, N_STAGES

        self.space = space
        rng = np.random.default_rng(seed)
        self.w_block = rng.normal(0, 0.01, size=(N_STAGES, MAX_DEPTH, N_BLOCK_OPTIONS))
        self.w_depth = rng.normal(0, 0.03, size=(N_STAGES, len(DEPTHS)))
        self.max_depth = MAX_DEPTH

    def fingerprint(self):
        return "additive"

    def accuracy(self, arch):
        total = 0.5
        for s, blocks in enumerate(self.space.stage_blocks(arch)):
            total += self.w_depth[s, DEPTHS.index(len(blocks))]
            total += sum(self.w_block[s, b, cfg.index] for b, cfg in enumerate(blocks))
        return total

    def expected_accuracy(self, fixed, key):
        total = 0.5
        for s in range(len(self.w_depth)):
            dg = self.space.depth_group(s)
            depths = [fixed[dg]] if dg in fixed else range(len(DEPTHS))
            mean_block = [
                self.w_block[s, b, fixed[g]]
                if (g := s * self.max_depth + b) in fixed
                else self.w_block[s, b].mean()
                for b in range(self.max_depth)
            ]
            total += np.mean([self.w_depth[s, d] + sum(mean_block[: DEPTHS[d]]) for d in depths])
        return total


def test_depth_centering_reproduces_an_additive_accuracy():
    space = MobileNetSpace(preset="tiny")
    ev = AdditiveEvaluator(space)
    archs = [space.sample(i) for i in range(50)]
    truth = np.array([ev.accuracy(a) for a in archs])
    pred = BinasPredictor().fit(ev)
    np.testing.assert_allclose(pred.predict_archs(archs), truth, atol=1e-12)
    # the literal reading (blocks 3-4 relative to A0) counts the depth effect again
    literal = BinasPredictor(center="a0").fit(ev)
    assert np.max(np.abs(literal.predict_archs(archs) - truth)) > 0.01
    # recentring the fitted expectations is the same as fitting with the other centre
    np.testing.assert_allclose(
        pred.recentered("a0").predict_archs(archs), literal.predict_archs(archs), atol=1e-12
    )
    assert pred.center == "depth"
    with pytest.raises(ValueError, match="center"):
        BinasPredictor(center="mean").fit(ev)


def _paths_drawn(ev, fixed, key):
    seen = []
    net = ev.supernet
    original = net.set_active
    net.set_active = lambda arch: (seen.append(arch.choices), original(arch))[1]
    try:
        value = ev.expected_accuracy(fixed, key)
    finally:
        del net.set_active
    return value, seen


@pytest.mark.parametrize("sampling", ["paired", "independent"])
def test_paired_sampling_overrides_only_the_forced_groups_of_the_a0_paths(evaluator, sampling):
    ev = SupernetEvaluator(
        evaluator.supernet,
        evaluator.recal_batches,
        evaluator.eval_batches,
        evaluator.bn_batches,
        passes=2,
        seed=evaluator.seed,
        sampling=sampling,
    )
    space = ev.space
    a0, base = _paths_drawn(ev, {}, "A0")
    assert len(base) == 2 * len(ev.eval_batches)
    dg = space.depth_group(1)
    fixed = {7: 5, dg: 2}  # block 4 of stage 2 with the depth where it is the last block
    value, forced = _paths_drawn(ev, fixed, "g7c5")
    assert value == pytest.approx(_by_hand(ev, fixed, "g7c5"))
    assert a0 == pytest.approx(_by_hand(ev, {}, "A0"))
    # blocks 3-4 of stage 2 may differ only where the base path was shallower (inactive blocks
    # are written canonically); every other group is the base path's, or the forced option
    kept = [g for g in range(space.n_groups) if g not in (6, 7)]
    pairs = [
        ([p[g] for g in kept], [fixed.get(g, b[g]) for g in kept])
        for p, b in zip(forced, base, strict=True)
    ]
    if sampling == "paired":
        assert all(f == o for f, o in pairs)
    else:
        assert any(f != o for f, o in pairs)
    # the setting is part of the fingerprint, so stored expectations of the other kind are not reused
    other = "independent" if sampling == "paired" else "paired"
    ev_other = SupernetEvaluator(
        ev.supernet, ev.recal_batches, ev.eval_batches, ev.bn_batches, 2, ev.seed, sampling=other
    )
    assert ev_other.fingerprint() != ev.fingerprint()
    # one-shot records of fixed paths do not depend on the sampling and are shared
    assert ev_other.fingerprint(sampling=False) == ev.fingerprint(sampling=False)
    with pytest.raises(ValueError, match="sampling"):
        SupernetEvaluator(ev.supernet, ev.recal_batches, ev.eval_batches, sampling="antithetic")


def test_fingerprint_ignores_recalibrated_statistics_but_not_data(evaluator):
    before = evaluator.fingerprint()
    evaluator.expected_accuracy({}, "A0")  # re-estimates BatchNorm statistics
    assert evaluator.fingerprint() == before
    fewer = SupernetEvaluator(
        evaluator.supernet,
        evaluator.recal_batches,
        evaluator.eval_batches[:1],
        evaluator.bn_batches,
        evaluator.passes,
        evaluator.seed,
    )
    assert fewer.fingerprint() != before


def test_bn_halves_score_even_and_odd_batches_after_two_recalibrations(evaluator):
    ev = evaluator
    halves = SupernetEvaluator(
        ev.supernet, ev.recal_batches, ev.eval_batches, 1, 1, seed=3, bn_halves=True
    )
    arch = ev.space.sample(np.random.default_rng(7))
    correct, total = halves.one_shot_counts(arch)
    held = ev.eval_batches
    for k in (0, 1):  # batch k after recalibrating on recalibration batch k only
        alone = one_shot_accuracy(ev.supernet, arch, ev.recal_batches[k : k + 1], held[k::2], 1)
        assert correct[k] == round(alone * total[k])
    assert total == [len(y) for _, y in held]
    # the two recalibrations differ: the same batches score otherwise with one of them (on a
    # few tiny held-out batches two scores can tie by chance, so on some of several paths)
    rng = np.random.default_rng(11)
    paths = [arch] + [ev.space.sample(rng) for _ in range(5)]
    scores = [
        [one_shot_accuracy(ev.supernet, a, ev.recal_batches[k:], held, 1) for k in (0, 1)]
        for a in paths
    ]
    assert any(one[0] != one[1] for one in scores)
    # another way of scoring is another record, and too few batches for two halves is an error
    assert halves.fingerprint(sampling=False) != ev.fingerprint(sampling=False)
    short = SupernetEvaluator(ev.supernet, ev.recal_batches, held, 2, 1, bn_halves=True)
    with pytest.raises(ValueError, match="2 x 2 recalibration batches"):
        short.one_shot_counts(arch)
