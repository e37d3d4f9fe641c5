"""Settings that make CPU training fast without changing what is computed.

* :func:`use_threads`: torch's intra-op threads, ``0`` meaning every core this process may use;
* :func:`fast_layout`: the channels-last memory format on CPU, where oneDNN's convolutions (the
  depthwise ones above all) run faster: 1.7x for a stage-A step of ``fmnist-small`` on one thread
  in a first probe; ``budgetnas bench supernet throughput`` measures it with the batched loader
  and every core (2.6x). Values are the same up to float rounding; state dicts load into either
  layout.

Example:
    >>> import torch
    >>> net = fast_layout(torch.nn.Conv2d(2, 4, 3))
    >>> net.weight.is_contiguous(memory_format=torch.channels_last)
    True
    >>> use_threads(0) >= 1
    True
"""

from __future__ import annotations

import os

__all__ = ["available_cores", "fast_layout", "plain_layout", "use_threads"]


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


def fast_layout(module, device=None):
    """``module`` in the channels-last memory format when it runs on the CPU (in place; returned)."""
    import torch

    if device is not None and torch.device(device).type != "cpu":
        return module
    return module.to(memory_format=torch.channels_last)


def plain_layout(module):
    """``module`` back in the default (contiguous) memory format, as exported and measured."""
    import torch

    return module.to(memory_format=torch.contiguous_format)
