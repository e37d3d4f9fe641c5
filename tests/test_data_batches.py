"""The batched loader gives what a DataLoader over the same dataset gives, and the CPU speed
settings change how, not what, the networks compute."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from budgetnas.data import get_dataset, make_loader
from budgetnas.data._base import ImageTensorDataset
from budgetnas.data.batches import TensorBatchLoader, augment_batch
from budgetnas.training.speed import (
    channels_last_is_safe,
    fast_layout,
    plain_layout,
    use_threads,
)


def _dataset(n: int = 50, augment: bool = False) -> ImageTensorDataset:
    """``n`` random 2-channel 5x6 images, labels 0..n-1 (so a batch's labels name its images)."""
    g = torch.Generator().manual_seed(11)
    images = torch.randint(0, 256, (n, 2, 5, 6), dtype=torch.uint8, generator=g)
    return ImageTensorDataset(
        images, torch.arange(n), mean=(0.3, 0.6), std=(0.2, 0.4), augment=augment, pad=2
    )


def _data_loader(ds, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False):
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        drop_last=drop_last,
    )


def _same_batches(ours, theirs) -> list[torch.Tensor]:
    """Both loaders yield equal batches (labels and float images, bit for bit), as many, in one
    pass of each; returns the pass's label batches."""
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for (x, y), (x_ref, y_ref) in zip(ours, theirs, strict=True):
        assert y.dtype == y_ref.dtype and torch.equal(y, y_ref)
        assert x.dtype == x_ref.dtype and torch.equal(x, x_ref)
    return [y for _, y in ours]


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
@pytest.mark.parametrize("drop_last", [False, True])
def test_same_order_and_images_as_a_dataloader(seed, drop_last):
    ds = _dataset(50)  # batches of 8: six full ones and a short one of 2
    ours = make_loader(ds, 8, shuffle=True, seed=seed, drop_last=drop_last)
    assert isinstance(ours, TensorBatchLoader)
    theirs = _data_loader(ds, 8, True, seed, drop_last)
    assert len(ours) == len(theirs) == (6 if drop_last else 7)
    first = _same_batches(ours, theirs)
    assert [len(y) for y in first] == [8] * 6 + ([] if drop_last else [2])
    # the second pass draws a new order, the one the DataLoader draws on its second pass
    second = _same_batches(ours, theirs)
    assert not torch.equal(torch.cat(first), torch.cat(second))
    if not drop_last:
        assert sorted(torch.cat(second).tolist()) == list(range(50))


@pytest.mark.parametrize("n", [48, 50])  # batches of 8 with and without a short last one
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("taken", [0, 3, 6, 7])
def test_passes_stopped_early_leave_the_next_order_alike(n, drop_last, taken):
    """A DataLoader's sampler draws one more permutation when it runs out (after the last
    full batch, or before a short last one); a pass stopped before that point does not."""
    ds = _dataset(n)
    ours = make_loader(ds, 8, shuffle=True, seed=3, drop_last=drop_last)
    theirs = _data_loader(ds, 8, True, 3, drop_last)
    for loader in (ours, theirs):
        for i, _ in enumerate(loader):
            if i + 1 >= taken:
                break
    _same_batches(ours, theirs)
    _same_batches(ours, theirs)


@pytest.mark.parametrize("shuffle", [True, False])
def test_without_a_generator_the_global_rng_is_drawn_as_a_dataloader_draws_it(shuffle):
    """Without a generator a DataLoader draws its base seed, and its sampler the seed of its own
    generator, from torch's global RNG: the same order, and the same RNG state after, as the
    augmentation and the rest of a run draw from it too."""
    ds = _dataset(50)
    torch.manual_seed(8)
    ours = [list(TensorBatchLoader(ds, 8, shuffle)) for _ in range(2)]
    state = torch.get_rng_state()
    torch.manual_seed(8)
    theirs = [list(DataLoader(ds, batch_size=8, shuffle=shuffle)) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(ours, theirs, strict=True):
        _same_batches(a, b)


def test_unshuffled_batches_are_the_dataset_in_order():
    ds = _dataset(20)
    labels = _same_batches(make_loader(ds, 6, shuffle=False), _data_loader(ds, 6, False, 0))
    assert torch.cat(labels).tolist() == list(range(20))
    assert [len(y) for _, y in make_loader(ds, 6, shuffle=False, drop_last=True)] == [6, 6, 6]


def test_same_batches_on_a_real_split_with_a_subset():
    ds = get_dataset("synthetic", "search-train", subset=100, seed=3, channels=1, image_size=8)
    _same_batches(make_loader(ds, 32, shuffle=True, seed=5), _data_loader(ds, 32, True, 5))


def test_other_datasets_and_workers_get_a_dataloader():
    ds = TensorDataset(torch.randn(10, 3), torch.arange(10))
    loader = make_loader(ds, 4, shuffle=True, seed=2)
    assert isinstance(loader, DataLoader)
    _same_batches(loader, _data_loader(ds, 4, True, 2))
    assert isinstance(make_loader(_dataset(10), 4, shuffle=False, num_workers=1), DataLoader)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatchLoader(_dataset(4), 0, shuffle=False)


def _crops(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every crop of the zero-padded ``image`` (C x H x W), flipped or not, at every offset."""
    _, h, w = image.shape
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    out = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            out.append(((dy, dx, False), crop))
            out.append(((dy, dx, True), crop.flip(-1)))
    return out


def _offsets(images: torch.Tensor, out: torch.Tensor, pad: int) -> list[tuple]:
    """For each output image, the (dy, dx, flipped) of the crops of its input that it equals;
    an image that is none of them fails the test."""
    found = []
    for img, got in zip(images, out, strict=True):
        hits = [key for key, crop in _crops(img, pad) if torch.equal(crop, got)]
        assert hits, "an augmented image is no crop of its padded input"
        found.append(hits)
    return found


def test_augmented_images_are_crops_of_the_padded_input():
    torch.manual_seed(0)
    images = torch.randint(1, 256, (40, 3, 5, 7), dtype=torch.uint8)  # no zero pixel: unambiguous
    for pad, hflip in [(2, True), (1, False), (3, True)]:
        out = augment_batch(images, pad, hflip)
        assert out.shape == images.shape and out.dtype == torch.uint8
        for hits in _offsets(images, out, pad):
            assert all(0 <= dy <= 2 * pad and 0 <= dx <= 2 * pad for dy, dx, _ in hits)
            if not hflip:
                assert any(not flipped for *_, flipped in hits)


def test_no_padding_and_no_flip_is_the_identity():
    images = torch.randint(0, 256, (6, 2, 4, 4), dtype=torch.uint8)
    assert torch.equal(augment_batch(images, pad=0, hflip=False), images)
    flipped = augment_batch(images, pad=0, hflip=True)
    for img, got in zip(images, flipped, strict=True):
        assert torch.equal(got, img) or torch.equal(got, img.flip(-1))


def test_flips_and_offsets_are_spread_over_the_batch():
    torch.manual_seed(1)
    # a single bright pixel in the middle: where it lands tells the offset and the flip
    images = torch.zeros(4000, 1, 9, 9, dtype=torch.uint8)
    images[:, 0, 4, 3] = 255
    flips = augment_batch(images, pad=0, hflip=True)[:, 0, 4]
    flipped = (flips[:, 5] == 255).float().mean()
    assert 0.45 < float(flipped) < 0.55
    out = augment_batch(images, pad=2, hflip=False)[:, 0]
    rows, cols = (out == 255).nonzero()[:, 1:].T
    assert len(rows) == len(images)  # the pixel never leaves a crop of this size
    assert sorted(set((4 + 2 - rows).tolist())) == [0, 1, 2, 3, 4]  # dy over [0, 2 * pad]
    assert sorted(set((3 + 2 - cols).tolist())) == [0, 1, 2, 3, 4]


def test_augmentation_follows_torch_rng():
    images = torch.randint(0, 256, (16, 1, 6, 6), dtype=torch.uint8)
    torch.manual_seed(3)
    a = augment_batch(images, 2, True)
    state = torch.get_rng_state()
    b = augment_batch(images, 2, True)
    torch.manual_seed(3)
    assert torch.equal(augment_batch(images, 2, True), a)
    torch.set_rng_state(state)  # a resumed run sees the batch it would have seen
    assert torch.equal(augment_batch(images, 2, True), b)
    assert not torch.equal(a, b)


def test_augmented_loader_batches_are_crops_of_the_dataset_images():
    ds = _dataset(30, augment=True)
    torch.manual_seed(4)
    loader = make_loader(ds, 8, shuffle=True, seed=1)
    order = [y for _, y in make_loader(_dataset(30), 8, shuffle=True, seed=1)]
    for (x, y), y_plain in zip(loader, order, strict=True):
        assert torch.equal(y, y_plain)  # augmentation does not change the order
        raw = (x * ds.std + ds.mean) * 255.0
        assert torch.allclose(raw, raw.round(), atol=1e-3)
        _offsets(ds.images[y].float(), raw.round(), ds.pad)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_use_threads_zero_reads_omp_num_threads(monkeypatch, restore_threads):
    from budgetnas.training.speed import available_cores

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert use_threads(0) == 1 and torch.get_num_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert use_threads(0) == available_cores() == torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert use_threads(0) == available_cores()
    assert use_threads(2) == 2 and torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads"):
        use_threads(-1)


def test_channels_last_computes_the_same_logits_and_loads_either_way():
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.supernet import MobileNetSupernet

    torch.manual_seed(0)
    space = MobileNetSpace(preset="tiny")
    cfg = space.config
    x = torch.randn(4, cfg.in_channels, cfg.image_size, cfg.image_size)
    net = MobileNetSupernet(space).eval()
    arch = space.sample(np.random.default_rng(0))
    net.set_active(arch)
    with torch.no_grad():
        plain = net(x)
        net.to(memory_format=torch.channels_last)  # what fast_layout does where it is safe
        convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        fast = net(x)
    assert torch.allclose(plain, fast, atol=1e-5)
    state = net.state_dict()  # saved from the channels-last network
    other = MobileNetSupernet(space).eval()
    other.load_state_dict(state)
    other.set_active(arch)
    with torch.no_grad():
        assert torch.allclose(other(x), plain, atol=1e-5)
        plain_layout(net)
        assert all(p.is_contiguous() for p in net.parameters())
        assert torch.allclose(net(x), plain, atol=1e-5)
    assert fast_layout(torch.nn.Conv2d(1, 2, 3), device="meta").weight.is_contiguous()


def test_fast_layout_stays_contiguous_where_onednn_runs_below_avx512(monkeypatch):
    def layout_is_channels_last() -> bool:
        w = fast_layout(torch.nn.Conv2d(2, 4, 3)).weight
        return w.is_contiguous(memory_format=torch.channels_last)

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert channels_last_is_safe() and layout_is_channels_last()
    for capped in ("AVX2", "avx", "SSE41"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", capped)
        assert not channels_last_is_safe() and not layout_is_channels_last()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert channels_last_is_safe()
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert not channels_last_is_safe() and not layout_is_channels_last()


def _passes(make, passes: int = 2, seed: int = 5) -> list:
    """``passes`` passes of the loader ``make()`` with torch's global RNG seeded first."""
    torch.manual_seed(seed)
    loader = make()
    return [[(x.clone(), y.clone()) for x, y in loader] for _ in range(passes)]


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_the_device_resident_path_gives_the_host_batches(augment, drop_last):
    ds = _dataset(23, augment=augment)

    def loader(**kw):
        g = torch.Generator().manual_seed(3)
        return TensorBatchLoader(ds, 8, True, g, drop_last, **kw)

    host = _passes(loader)
    resident = _passes(lambda: loader(device=torch.device("cpu"), resident=True))
    assert len(host) == len(resident) == 2
    for a, b in zip(host, resident, strict=True):
        assert len(a) == len(b)
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            assert torch.equal(ya, yb) and torch.equal(xa, xb)
    # the random numbers came from the same generators: what follows the passes agrees too
    torch.manual_seed(5)
    _ = [list(loader()) for _ in range(2)]
    after_host = torch.rand(3)
    torch.manual_seed(5)
    _ = [list(loader(device="cpu", resident=True)) for _ in range(2)]
    assert torch.equal(after_host, torch.rand(3))


def test_make_loader_on_the_cpu_is_the_loader_of_before():
    ds = _dataset(20, augment=True)
    plain = _passes(lambda: make_loader(ds, 6, shuffle=True, seed=2))
    on_cpu = _passes(lambda: make_loader(ds, 6, shuffle=True, seed=2, device="cpu"))
    for a, b in zip(plain, on_cpu, strict=True):
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    loader = make_loader(ds, 6, shuffle=True, device="cpu")
    assert not loader.resident and not loader.pin_memory


def test_only_a_cuda_device_keeps_a_dataset_resident(monkeypatch):
    from budgetnas.data import batches

    ds = _dataset(10)
    assert not batches.fits_on_device(ds, "cpu")
    # a GPU with 1 MiB free: the 600-byte dataset fits, a limit below its size does not
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1 << 20, 1 << 30))
    assert batches.fits_on_device(ds, "cuda")
    monkeypatch.setattr(batches, "RESIDENT_MAX_BYTES", 100)
    assert not batches.fits_on_device(ds, "cuda")
    with pytest.raises(ValueError, match="resident=True needs the device"):
        TensorBatchLoader(ds, 4, False, resident=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible here)")
def test_on_cuda_the_batches_are_the_host_batches_on_the_gpu():
    ds = _dataset(23, augment=True)
    host = _passes(lambda: make_loader(ds, 8, shuffle=True, seed=1, pin_memory=False))
    gpu = _passes(lambda: make_loader(ds, 8, shuffle=True, seed=1, device="cuda"))
    for a, b in zip(host, gpu, strict=True):
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            assert xb.device.type == "cuda" and torch.equal(ya, yb.cpu())
            assert torch.allclose(xa, xb.cpu())
