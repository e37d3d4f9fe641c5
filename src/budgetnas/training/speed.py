"""Settings that make CPU training fast without changing what is computed.

* :func:`use_threads`: torch's intra-op threads, ``0`` meaning every core this process may use;
* :func:`fast_layout`: the channels-last memory format on CPU, where oneDNN's convolutions (the
  depthwise ones above all) run faster: 1.7x for a stage-A step of ``fmnist-small`` on one thread
  in a first probe; ``budgetnas bench supernet throughput`` measures it with the batched loader
  and every core (2.6x). Values are the same up to float rounding; state dicts load into either
  layout.

  Only where oneDNN runs its AVX-512 kernels (:func:`channels_last_is_safe`). With torch 2.13
  (oneDNN 3.12) on an AVX2-only CPU, the weight gradient of a strided 1x1 convolution with few
  channels in channels-last is wrong and can corrupt the heap ("double free or corruption") or
  hang: ResNet-8 at width 4 hit it. There, :func:`fast_layout` leaves the module contiguous.

Example:
    >>> import torch
    >>> net = fast_layout(torch.nn.Conv2d(2, 4, 3))
    >>> net.weight.is_contiguous(memory_format=torch.channels_last) == channels_last_is_safe()
    True
    >>> use_threads(0) >= 1
    True
"""

from __future__ import annotations

import os

__all__ = [
    "available_cores",
    "channels_last_is_safe",
    "fast_layout",
    "plain_layout",
    "use_threads",
]


def available_cores() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_threads(threads: int) -> int:
    """Set torch's intra-op threads to ``threads`` (``0``: ``$OMP_NUM_THREADS`` when set, else
    :func:`available_cores`); returns the number set."""
    import torch

    if threads < 0:
        raise ValueError(f"threads must be 0 (all cores) or positive, got {threads}")
    n = threads
    if n == 0:
        env = os.environ.get("OMP_NUM_THREADS", "")
        n = int(env) if env.isdigit() and int(env) > 0 else available_cores()
    torch.set_num_threads(n)
    return n


def channels_last_is_safe() -> bool:
    """Whether CPU training in channels-last computes what contiguous training does: torch's CPU
    kernels are AVX-512 (``torch.backends.cpu.get_cpu_capability()``) and ``ONEDNN_MAX_CPU_ISA``,
    when set, does not cap oneDNN below AVX-512. See the module's docstring for the bug below."""
    import torch

    capped = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if capped != "ALL" and not capped.startswith("AVX512") and not capped.startswith("AVX10"):
        return False
    return torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512")


def fast_layout(module, device=None):
    """``module`` in the channels-last memory format when it runs on the CPU and
    :func:`channels_last_is_safe` (in place; returned), else ``module`` unchanged."""
    import torch

    if device is not None and torch.device(device).type != "cpu":
        return module
    if not channels_last_is_safe():
        return module
    return module.to(memory_format=torch.channels_last)


def plain_layout(module):
    """``module`` back in the default (contiguous) memory format, as exported and measured."""
    import torch

    return module.to(memory_format=torch.contiguous_format)
