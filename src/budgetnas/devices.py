"""Where networks train and evaluate, and in which precision: ``--device`` and ``--precision``.

* :func:`resolve_device` turns a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``,
  ``mps``) into a ``torch.device``, with errors that say what is missing and what to pass instead;
* :func:`resolve_precision` turns a precision setting (``auto``, ``bf16``, ``fp16``, ``fp32``)
  into the dtype of autocast (``None``: plain fp32);
* :class:`Runtime` holds both and does what the loops need: moving batches (``non_blocking`` on
  CUDA), forward passes under autocast, and the gradient scaler of fp16;
* :func:`cpu_fp32_copy` and :func:`state_on_cpu`: a latency measurement or an export works on a
  CPU fp32 copy (the training device never changes what a latency budget means), and every
  checkpoint is written with CPU tensors (it loads on any device).

Importing this module needs no torch; every function imports it when called.

Example:
    >>> rt = Runtime.resolve("cpu", "auto")
    >>> str(rt.device), rt.dtype, rt.scaler() is None
    ('cpu', None, True)
    >>> import torch
    >>> with Runtime.resolve("cpu", "bf16").autocast():
    ...     torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype
    torch.bfloat16
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEVICE_HELP",
    "PRECISIONS",
    "PRECISION_HELP",
    "Runtime",
    "backward",
    "cpu_fp32_copy",
    "on_device",
    "resolve_device",
    "resolve_precision",
    "state_on_cpu",
    "step",
]

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DEVICE_HELP = (
    "torch device of training and evaluation: auto (cuda, else mps, else cpu), cpu, cuda, "
    "cuda:N or mps (latencies are always measured on the CPU in fp32)"
)
PRECISION_HELP = (
    "autocast precision of training and evaluation: auto (bf16 on GPUs that support it, else "
    "fp16 on CUDA; fp32 on cpu and mps), bf16, fp16 (CUDA only, with loss scaling) or fp32"
)
_FIX = "pass --device cpu (or --device auto, which falls back to the CPU)"


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str = "auto") -> torch.device:
    """The ``torch.device`` of the setting ``spec``.

    ``auto`` is CUDA when a GPU is visible, else MPS (Apple GPUs) when available, else the CPU.
    ``cuda``, ``cuda:N`` and ``mps`` are refused with a ValueError that says why (this torch
    build has no CUDA, no GPU is visible, N is beyond the GPUs there are) and what to pass.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("tpu")
        Traceback (most recent call last):
        ...
        ValueError: unknown device 'tpu'; choose auto, cpu, cuda, cuda:N or mps
    """
    import torch

    text = str(spec).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise ValueError(f"device 'mps' asked for, but MPS is not available here; {_FIX}")
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise ValueError(f"unknown device {spec!r}; a CUDA device is cuda or cuda:N (N >= 0)")
        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA"
                if torch.version.cuda is None
                else "no GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)"
            )
            raise ValueError(f"device {spec!r} asked for, but {why}; {_FIX}")
        if index:
            count = torch.cuda.device_count()
            if int(index) >= count:
                raise ValueError(
                    f"device {spec!r} asked for, but there are {count} visible GPU(s) "
                    f"(cuda:0 to cuda:{count - 1}); pass one of those, or --device cuda"
                )
            return torch.device("cuda", int(index))
        return torch.device("cuda")
    raise ValueError(f"unknown device {spec!r}; choose auto, cpu, cuda, cuda:N or mps")


def resolve_precision(precision: str, device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device``; ``None`` means fp32 (no autocast).

    ``auto`` is bf16 on a CUDA GPU that supports it, fp16 on an older one (with loss scaling:
    :meth:`Runtime.scaler`), fp32 on the CPU and MPS. ``fp16`` on the CPU is refused: CPU
    autocast computes in bf16 or fp32, and fp16 there is slow and needs loss scaling for nothing.

    Example:
        >>> import torch
        >>> resolve_precision("auto", torch.device("cpu")) is None
        True
        >>> resolve_precision("bf16", "cpu")
        torch.bfloat16
    """
    import torch

    device = torch.device(device)
    text = str(precision).strip().lower()
    if text not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if text == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if text == "fp32":
        return None
    if text == "bf16":
        return torch.bfloat16
    if device.type == "cpu":
        raise ValueError(
            "precision 'fp16' is for CUDA GPUs; on the CPU pass --precision bf16 or fp32 "
            "(or --precision auto)"
        )
    return torch.float16


@dataclass(frozen=True)
class Runtime:
    """A device and an autocast dtype (``None``: fp32): what a training or evaluation loop needs.

    ``Runtime.resolve(device, precision)`` checks both settings; ``move`` puts tensors on the
    device (asynchronously from pinned memory on CUDA); ``autocast()`` is the context of every
    forward pass; ``scaler()`` the gradient scaler of fp16 (``None`` otherwise).
    """

    device: Any  # torch.device
    dtype: Any = None  # torch.dtype | None

    @classmethod
    def resolve(cls, device: str = "auto", precision: str = "auto") -> Runtime:
        dev = resolve_device(device)
        return cls(dev, resolve_precision(precision, dev))

    @classmethod
    def cpu(cls) -> Runtime:
        """The CPU in fp32: what latencies are measured on."""
        import torch

        return cls(torch.device("cpu"), None)

    @property
    def precision(self) -> str:
        """The precision's name: ``fp32``, ``bf16`` or ``fp16``."""
        import torch

        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def move(self, *tensors):
        """``tensors`` on the device (one tensor alone, else a tuple); ``non_blocking`` on CUDA
        (a copy from pinned memory then overlaps the computation)."""
        fast = self.device.type == "cuda"
        moved = tuple(t.to(self.device, non_blocking=fast) for t in tensors)
        return moved[0] if len(moved) == 1 else moved

    def autocast(self):
        """The context of a forward pass: ``torch.autocast`` in ``dtype``, or nothing in fp32.

        Autocast runs the matrix products and convolutions in the low precision and keeps
        reductions, losses and BatchNorm statistics in fp32; the weights stay fp32."""
        import torch

        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def scaler(self):
        """A ``torch.amp.GradScaler`` for fp16, ``None`` otherwise.

        fp16 has 5 exponent bits: small gradients underflow to zero and large activations
        overflow, so the loss is multiplied by a scale before the backward pass and the
        gradients divided by it before the step (steps with inf/NaN gradients are skipped and
        the scale lowered). bf16 has fp32's exponent range and needs no scaling; fp32 neither.
        """
        import torch

        if self.dtype != torch.float16:
            return None
        return torch.amp.GradScaler(self.device.type)

    def describe(self) -> str:
        return f"{self.device} {self.precision}"


def backward(loss, scaler=None) -> None:
    """``loss.backward()``, scaled by ``scaler`` when there is one (fp16)."""
    (loss if scaler is None else scaler.scale(loss)).backward()


def step(opt, scaler=None) -> None:
    """``opt.step()``; with a ``scaler``, unscaled and skipped on inf/NaN gradients, then the
    scale updated."""
    if scaler is None:
        opt.step()
        return
    scaler.step(opt)
    scaler.update()


@contextlib.contextmanager
def on_device(module, device):
    """Run the block with ``module`` on ``device``, then move it back to where it was (its
    parameters' device): a CPU network trained or evaluated on a GPU for a while.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 2)
        >>> with on_device(net, "cpu") as moved:
        ...     moved is net
        True
    """
    import torch

    first = next(iter(module.parameters()), None)
    home = first.device if first is not None else torch.device("cpu")
    module.to(device)
    try:
        yield module
    finally:
        module.to(home)


def cpu_fp32_copy(module):
    """A copy of ``module`` on the CPU, in fp32, contiguous and in eval mode; ``module`` itself is
    left as it is (on its device, in its layout and mode). Latency is measured and networks are
    exported on such a copy: what a latency budget means never depends on the training device.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 2).to(torch.bfloat16)
        >>> copy_ = cpu_fp32_copy(net)
        >>> copy_.weight.dtype, net.weight.dtype, copy_.training
        (torch.float32, torch.bfloat16, False)
    """
    import torch

    out = copy.deepcopy(module).to(device="cpu")
    out = out.to(dtype=torch.float32) if _has_float_below_fp32(out) else out
    return out.to(memory_format=torch.contiguous_format).eval()


def _has_float_below_fp32(module) -> bool:
    import torch

    low = (torch.float16, torch.bfloat16)
    return any(t.dtype in low for t in [*module.parameters(), *module.buffers()])


def state_on_cpu(state):
    """``state`` (a dict, list or tuple nesting tensors, such as a checkpoint) with every tensor
    moved to the CPU and made contiguous: what a checkpoint holds, so it loads on any device and
    into either memory layout."""
    import torch

    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu").contiguous()
    if isinstance(state, dict):
        return type(state)((k, state_on_cpu(v)) for k, v in state.items())
    if isinstance(state, list | tuple) and not hasattr(state, "_fields"):
        return type(state)(state_on_cpu(v) for v in state)
    return state
