"""Latency measurement: PyTorch eager on CPU or on a CUDA GPU, and ONNX Runtime; warm-up,
interleaved repeats, medians.

A *runner* is a no-argument callable doing one inference of one module on a fixed input.
:func:`measure` times many runners together: after warm-up, each of ``repeats`` rounds times every
runner once (``number`` calls, averaged), in a shuffled order, so slow drifts of a shared machine
(another process starting, frequency changes) spread over all runners instead of biasing the ones
measured last. The result per runner keeps the median and the spread (quartiles, min, max) in ms.

On ``torch-cuda`` a runner launches one inference on the GPU and the clock is a pair of CUDA
events around the ``number`` calls of a repeat, read after synchronizing: the GPU's time, not
the time the host took to queue the kernels.

Example:
    >>> import torch
    >>> net = torch.nn.Conv2d(1, 4, 3)
    >>> r = make_runner(net, (1, 1, 8, 8), backend="torch-cpu", threads=1)
    >>> m = measure({"conv": r}, repeats=3, warmup=1)["conv"]
    >>> m.median > 0 and m.q1 <= m.median <= m.q3
    True
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

BACKENDS = ("torch-cpu", "onnxruntime", "torch-cuda")
CLOCKS = ("wall", "thread", "cuda")


def resolve_clock(clock: str, threads: int, backend: str = "torch-cpu") -> str:
    """``auto`` is the thread's CPU time with one thread, wall-clock time otherwise, and CUDA
    events on ``torch-cuda``.

    With one intra-op thread all the work runs on the calling thread, so its CPU time is the
    latency the network would have on an otherwise idle core; unlike wall-clock time it does not
    count the time other processes of a shared machine hold the core. With several threads only
    wall-clock time measures latency. On a GPU the work is not the host thread's: CUDA events
    time it on the device (``wall`` is allowed there too: wall-clock time up to a synchronize).
    """
    gpu = backend == "torch-cuda"
    if clock == "auto":
        return "cuda" if gpu else "thread" if int(threads) == 1 else "wall"
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; choose auto, {', '.join(CLOCKS)}")
    if clock == "thread" and (gpu or int(threads) != 1):
        raise ValueError(
            "the thread CPU-time clock measures latency only on the CPU with --threads 1"
        )
    if clock == "cuda" and not gpu:
        raise ValueError("the cuda clock times GPU work: use it with --backend torch-cuda")
    return clock


def cuda_device():
    """The CUDA device ``torch-cuda`` measures on, or a clear error where there is none."""
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError(
            "backend torch-cuda needs a CUDA GPU and a CUDA build of PyTorch; this machine has "
            f"none (torch {torch.__version__}); measure on torch-cpu or onnxruntime here, or "
            "build the table on the GPU server"
        )
    return torch.device("cuda", torch.cuda.current_device())


@dataclass(frozen=True)
class Measurement:
    """Median and spread of repeated timings (or energies), in the unit of the table (ms, mJ)."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int
    number: int = 1

    @classmethod
    def from_samples(cls, samples, number: int = 1) -> Measurement:
        a = np.asarray(samples, dtype=float)
        if a.size == 0:
            raise ValueError("no samples")
        q1, med, q3 = np.percentile(a, [25, 50, 75])
        return cls(
            float(med), float(q1), float(q3), float(a.min()), float(a.max()), int(a.size), number
        )

    @property
    def rel_iqr(self) -> float:
        """Inter-quartile range relative to the median (a noise indicator)."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Measurement:
        return cls(**data)


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend


@contextmanager
def torch_threads(threads: int):
    """Run with ``threads`` intra-op threads and denormals flushed; both restored afterwards
    (flushing is process-wide CPU state: left on, it breaks other code's float handling)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_num_threads(old)
        torch.set_flush_denormal(False)  # PyTorch's default; there is no getter to save it


def export_onnx(module, x, target) -> None:
    """``module`` (a CPU fp32 module in eval mode) as ONNX into ``target`` (a path or a binary
    file): opset 17, input ``input``, output ``output``, as every table and kit measures it."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (x,),
            target,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
        )


def make_runner(
    module,
    input_shape: tuple[int, ...],
    backend: str = "torch-cpu",
    threads: int = 1,
    seed: int = 0,
) -> Callable[[], object]:
    """One inference of ``module`` on a fixed random input of ``input_shape``.

    The runner times a CPU fp32 copy of ``module`` in eval mode
    (:func:`budgetnas.devices.cpu_fp32_copy`): a network trained on a GPU or in bf16 is timed as
    the latency budget means it, and ``module`` itself is left where and as it is.

    ``torch-cpu`` runs eager PyTorch under ``torch.inference_mode``; ``onnxruntime`` exports the
    module to ONNX in memory and runs it on the CPU execution provider with ``threads`` intra-op
    threads (graph optimizations on, so BatchNorm is fused as in deployment); ``torch-cuda`` runs
    the fp32 copy and its input on the current CUDA device (the runner only launches the work;
    :func:`measure` synchronizes).
    """
    import torch

    from budgetnas.devices import cpu_fp32_copy

    check_backend(backend)
    module = cpu_fp32_copy(module)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*input_shape, generator=gen)
    if backend == "torch-cuda":
        device = cuda_device()
        module, x = module.to(device), x.to(device)

        def run_cuda():
            with torch.inference_mode():
                return module(x)

        return run_cuda
    if backend == "torch-cpu":

        def run_torch():
            with torch.inference_mode():
                return module(x)

        return run_torch
    import onnxruntime as ort

    buf = io.BytesIO()
    export_onnx(module, x, buf)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])
    feed = {"input": x.numpy()}

    def run_ort():
        return session.run(None, feed)

    return run_ort


def calibrate_number(
    runner: Callable[[], object], min_time_s: float = 5e-4, max_number: int = 50
) -> int:
    """Calls per timed repeat so that one repeat lasts at least ``min_time_s``."""
    t = time.perf_counter()
    runner()
    dt = max(time.perf_counter() - t, 1e-7)
    return int(min(max_number, max(1, np.ceil(min_time_s / dt))))


def measure(
    runners: dict[str, Callable[[], object]],
    repeats: int = 30,
    warmup: int = 5,
    number: int | None = None,
    threads: int = 1,
    seed: int = 0,
    clock: str = "auto",
) -> dict[str, Measurement]:
    """Time every runner ``repeats`` times, interleaved in shuffled order; returns ms per call.

    ``number`` calls are averaged per repeat (chosen per runner from a single call when None);
    ``clock`` is ``wall``, ``thread`` (CPU time of this thread), ``cuda`` (CUDA events, for
    ``torch-cuda`` runners) or ``auto`` (:func:`resolve_clock`; ``auto`` means a CPU clock here).
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    if clock == "cuda":
        return _measure_cuda(runners, repeats, warmup, number, seed)
    timer = time.thread_time if resolve_clock(clock, threads) == "thread" else time.perf_counter

    def ms_per_call(f, n):
        t = timer()
        for _ in range(n):
            f()
        return (timer() - t) * 1e3 / n

    with torch_threads(threads):
        for k in runners:
            for _ in range(max(0, warmup)):
                runners[k]()
        numbers = {k: number or calibrate_number(runners[k]) for k in runners}
        return interleaved_rounds(runners, numbers, repeats, seed, ms_per_call)


def _measure_cuda(runners, repeats: int, warmup: int, number: int | None, seed: int):
    """:func:`measure` on a GPU: CUDA events around each repeat's calls, read after a
    synchronize, so the time is the device's; warm-up (cuDNN's algorithm choice, the caching
    allocator) ends with a synchronize too."""
    import torch

    cuda_device()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def ms_per_call(f, n):
        torch.cuda.synchronize()
        start.record()
        for _ in range(n):
            f()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / n

    def synchronized(f):
        def call():
            f()
            torch.cuda.synchronize()

        return call

    for k in runners:
        for _ in range(max(0, warmup)):
            runners[k]()
    torch.cuda.synchronize()
    numbers = {k: number or calibrate_number(synchronized(runners[k])) for k in runners}
    return interleaved_rounds(runners, numbers, repeats, seed, ms_per_call)


def interleaved_rounds(
    runners: dict[str, Callable[[], object]],
    numbers: dict[str, int],
    repeats: int,
    seed: int,
    sample: Callable[[Callable[[], object], int], float],
) -> dict[str, Measurement]:
    """``repeats`` rounds; each samples every runner once, ``sample(runner, numbers[k])`` (a value
    per call: ms, mJ), in a freshly shuffled order. The protocol of :func:`measure` and of
    :func:`budgetnas.costs.energy.measure_energy`."""
    keys = list(runners)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(repeats):
        for i in rng.permutation(len(keys)):
            k = keys[i]
            samples[k].append(sample(runners[k], numbers[k]))
    return {k: Measurement.from_samples(samples[k], numbers[k]) for k in keys}


__all__ = [
    "BACKENDS",
    "CLOCKS",
    "Measurement",
    "calibrate_number",
    "check_backend",
    "cuda_device",
    "export_onnx",
    "interleaved_rounds",
    "make_runner",
    "measure",
    "resolve_clock",
    "torch_threads",
]
