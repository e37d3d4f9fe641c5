"""An ONNX classifier as a PyTorch module: what lets a user's ONNX file join a committee, be
counted and be timed like any other network.

:func:`load_onnx` reads the file with ``onnx`` (protobuf: nothing in it runs), checks it, and
builds an :class:`OnnxNetwork`: convolutions, batch norms and fully connected layers become
``nn.Conv2d``, batch-norm modules and ``nn.Linear`` holding the file's weights (so the FLOP and
parameter counters see them), and ``forward`` runs the graph's nodes in their order. The
module traces (``torch.jit.trace``) into a static graph, which is how committees hold it.

The operators are those image classifiers exported from PyTorch, Keras (tf2onnx) or timm use:
``Conv``, ``BatchNormalization``, ``Gemm``, ``MatMul``, the activations (``Relu``, ``Clip``,
``Sigmoid``, ``HardSigmoid``, ``HardSwish``, ``LeakyRelu``, ``Tanh``, ``Softmax``), element-wise
``Add``/``Sub``/``Mul``/``Div``, pooling (``GlobalAveragePool``, ``MaxPool``, ``AveragePool``,
``ReduceMean``), shape work (``Flatten``, ``Reshape``, ``Squeeze``, ``Unsqueeze``, ``Concat``,
``Shape``, ``Gather``, ``Transpose``, ``Pad``), ``Constant``, ``Identity`` and ``Dropout``. A
file with any other operator is refused with the operator's name, before anything runs.

Example:
    >>> import io, torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 3)).eval()
    >>> buf = io.BytesIO()
    >>> torch.onnx.export(net, torch.zeros(1, 1, 8, 8), buf, dynamo=False)
    >>> back = onnx_network(buf.getvalue())
    >>> x = torch.randn(2, 1, 8, 8)
    >>> bool(torch.allclose(back(x), net(x), atol=1e-6)), back.input_shape
    (True, (1, 8, 8))
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SUPPORTED_OPS", "OnnxNetwork", "is_onnx", "load_onnx", "onnx_network"]

SUPPORTED_OPS = frozenset(
    "Conv BatchNormalization Gemm MatMul Relu Clip Sigmoid HardSigmoid HardSwish LeakyRelu Tanh "
    "Softmax Add Sub Mul Div GlobalAveragePool MaxPool AveragePool ReduceMean Flatten Reshape "
    "Squeeze Unsqueeze Concat Shape Gather Transpose Pad Constant Identity Dropout".split()
)


def is_onnx(path: str | Path) -> bool:
    """Whether ``path`` names an ONNX file (by its suffix, ``.onnx``)."""
    return Path(path).suffix.lower() == ".onnx"


def load_onnx(path: str | Path) -> OnnxNetwork:
    """The ONNX classifier in ``path`` as an :class:`OnnxNetwork` (in eval mode). A missing,
    corrupt or unsupported file is a ``ValueError`` (``FileNotFoundError`` when missing) that
    names the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}")
    return onnx_network(path.read_bytes(), str(path))


def onnx_network(data: bytes, name: str = "the ONNX model") -> OnnxNetwork:
    """:func:`load_onnx` on the file's bytes."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} is not a valid ONNX model ({err}); export it again") from err
    return OnnxNetwork(model, name)


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _key(name: str) -> str:
    """A module or buffer name from an ONNX name (dots and the like are not allowed)."""
    return "n_" + re.sub(r"\W", "_", name)


class OnnxNetwork(nn.Module):
    """The graph of an ONNX model with one image input and one output, run node by node.

    ``input_shape`` is ``(channels, height, width)`` from the graph's input (``None`` where the
    file leaves a dimension symbolic); ``source`` names the file.
    """

    def __init__(self, model, source: str = "the ONNX model"):
        super().__init__()
        from onnx import numpy_helper

        graph = model.graph
        self.source = source
        unsupported = sorted({n.op_type for n in graph.node} - SUPPORTED_OPS)
        if unsupported:
            raise ValueError(
                f"{source} uses ONNX operators budgetnas does not run: {', '.join(unsupported)} "
                f"(supported: {', '.join(sorted(SUPPORTED_OPS))}); give the network as "
                "TorchScript instead (torch.jit.trace(model, example).save(path))"
            )
        self._consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in self._consts]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ValueError(
                f"{source} has {len(inputs)} inputs and {len(graph.output)} outputs; a classifier "
                "takes one image batch and gives one logits tensor"
            )
        self.input_name, self.output_name = inputs[0].name, graph.output[0].name
        dims = [d.dim_value if d.HasField("dim_value") else None for d in _dims(inputs[0])]
        if len(dims) != 4:
            raise ValueError(f"{source} takes a {len(dims)}-d input, not an NCHW image batch")
        self.input_shape = None if None in dims[1:] else tuple(dims[1:])
        self.layers = nn.ModuleDict()
        self.nodes: list[tuple[str, list[str], list[str], dict, str]] = []
        for i, node in enumerate(graph.node):
            attrs = _attrs(node)
            key = _key(f"{i}_{node.name or node.op_type}")
            if node.op_type == "Constant":
                self._consts[node.output[0]] = _constant(attrs)
                continue
            if node.op_type == "Identity" and node.input[0] in self._consts:
                # exporters write a weight shared by two layers once, the second use an Identity
                self._consts[node.output[0]] = self._consts[node.input[0]]
                continue
            layer = self._layer(node, attrs)
            if layer is not None:
                self.layers[key] = layer
            self.nodes.append((node.op_type, list(node.input), list(node.output), attrs, key))
        # the constants the weightless nodes read as tensors, as buffers (they move with .to());
        # the layers hold their own weights
        used = {n for _, ins, _, _, key in self.nodes if key not in self.layers for n in ins}
        self._buffer_keys: dict[str, str] = {}
        for name, value in self._consts.items():
            if name in used and value.dtype.kind == "f":
                key = _key(name)
                self.register_buffer(key, torch.from_numpy(np.array(value)), persistent=False)
                self._buffer_keys[name] = key
        self.eval()

    def _const(self, name: str) -> np.ndarray:
        if name not in self._consts:
            raise ValueError(f"{self.source}: {name!r} must be a constant (an initializer) here")
        return self._consts[name]

    def _layer(self, node, attrs) -> nn.Module | None:
        """The ``nn`` layer that holds a node's weights, or ``None`` for a weightless node."""
        op, ins = node.op_type, node.input
        if op == "Conv":
            w = torch.from_numpy(np.array(self._const(ins[1])))
            if w.dim() != 4:
                raise ValueError(f"{self.source}: only 2-d convolutions run here ({node.name})")
            if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise ValueError(
                    f"{self.source}: Conv with auto_pad is not supported ({node.name})"
                )
            groups = int(attrs.get("group", 1))
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            symmetric = pads[:2] == pads[2:]
            conv = nn.Conv2d(
                w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]),
                stride=tuple(attrs.get("strides", [1, 1])),
                padding=tuple(pads[:2]) if symmetric else 0,
                dilation=tuple(attrs.get("dilations", [1, 1])),
                groups=groups, bias=len(ins) > 2 and bool(ins[2]),
            )  # fmt: skip
            conv.weight.data.copy_(w)
            if conv.bias is not None:
                conv.bias.data.copy_(torch.from_numpy(np.array(self._const(ins[2]))))
            attrs["_pad"] = None if symmetric else [pads[1], pads[3], pads[0], pads[2]]
            return conv
        if op == "BatchNormalization":
            scale, bias, mean, var = (
                torch.from_numpy(np.array(self._const(n))).float() for n in ins[1:5]
            )
            bn = _BatchNorm(len(scale), eps=float(attrs.get("epsilon", 1e-5)))
            bn.weight.data.copy_(scale)
            bn.bias.data.copy_(bias)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            return bn
        if op in ("Gemm", "MatMul") and ins[1] in self._consts and not attrs.get("transA", 0):
            w = torch.from_numpy(np.array(self._const(ins[1]))).float()
            if w.dim() != 2:
                return None  # a batched MatMul runs as torch.matmul
            alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
            w = w if (op == "Gemm" and attrs.get("transB", 0)) else w.t()
            has_bias = op == "Gemm" and len(ins) > 2 and bool(ins[2])
            lin = nn.Linear(w.shape[1], w.shape[0], bias=has_bias)
            lin.weight.data.copy_(alpha * w)
            if has_bias:
                b = torch.from_numpy(np.array(self._const(ins[2]))).float().reshape(-1)
                lin.bias.data.copy_((beta * b).expand(w.shape[0]))
            return lin
        return None

    def _value(self, env: dict, name: str):
        """A node input: a tensor, or for integer constants and shapes a list of ints (shapes
        stay Python values, so a traced ``x.view(x.size(0), -1)`` keeps its batch dimension)."""
        if name in env:
            return env[name]
        if name in self._buffer_keys:
            return getattr(self, self._buffer_keys[name])
        if name in self._consts:
            c = self._consts[name]
            return c.tolist() if c.dtype.kind in "iub" else torch.from_numpy(np.array(c))
        raise ValueError(f"{self.source}: no value named {name!r} before it is used")

    def _ints(self, env: dict, name: str) -> list:
        """An integer list input (shape, axes, pads), a constant or a shape computed in the
        graph (``Shape`` -> ``Gather`` -> ``Concat``)."""
        return [int(i) for i in _as_list(self._value(env, name))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict = {self.input_name: x}
        for op, ins, outs, attrs, key in self.nodes:
            env[outs[0]] = self._run(op, ins, attrs, key, env)
        return env[self.output_name]

    def _run(self, op, ins, attrs, key, env):  # one branch per operator
        v = [self._value(env, n) if n else None for n in ins]
        if key in self.layers:
            layer = self.layers[key]
            if op == "Conv" and attrs.get("_pad") is not None:
                return layer(F.pad(v[0], attrs["_pad"]))
            return layer(v[0])
        if op in ("Identity", "Dropout"):
            return v[0]
        if op == "Relu":
            return F.relu(v[0])
        if op == "LeakyRelu":
            return F.leaky_relu(v[0], float(attrs.get("alpha", 0.01)))
        if op == "Sigmoid":
            return torch.sigmoid(v[0])
        if op == "Tanh":
            return torch.tanh(v[0])
        if op == "HardSigmoid":
            alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
            return torch.clamp(alpha * v[0] + beta, 0.0, 1.0)
        if op == "HardSwish":
            return F.hardswish(v[0])
        if op == "Clip":  # bounds as attributes (opset < 11) or as inputs
            lo = attrs.get("min", v[1] if len(v) > 1 else None)
            hi = attrs.get("max", v[2] if len(v) > 2 else None)
            return torch.clamp(v[0], lo, hi)
        if op == "Softmax":
            return torch.softmax(v[0], int(attrs.get("axis", -1)))
        if op in ("Add", "Sub", "Mul", "Div"):
            a, b = (t if isinstance(t, torch.Tensor) else torch.as_tensor(t) for t in v[:2])
            return {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op](
                a, b
            )
        if op == "GlobalAveragePool":
            return v[0].mean(dim=(2, 3), keepdim=True)
        if op == "ReduceMean":
            axes = attrs.get("axes") or (self._ints(env, ins[1]) if len(ins) > 1 else None)
            keep = bool(attrs.get("keepdims", 1))
            if not axes:
                return (
                    v[0].mean()
                    if not keep
                    else v[0].mean(dim=tuple(range(v[0].dim())), keepdim=True)
                )
            return v[0].mean(dim=tuple(axes), keepdim=keep)
        if op in ("MaxPool", "AveragePool"):
            return self._pool(op, v[0], attrs)
        if op == "Gemm":
            a, b = v[0], v[1]
            a = a.t() if attrs.get("transA", 0) else a
            b = b.t() if attrs.get("transB", 0) else b
            out = float(attrs.get("alpha", 1.0)) * (a @ b)
            return (
                out + float(attrs.get("beta", 1.0)) * v[2]
                if len(v) > 2 and v[2] is not None
                else out
            )
        if op == "MatMul":
            return torch.matmul(v[0], v[1])
        if op == "Flatten":
            axis = int(attrs.get("axis", 1)) % max(v[0].dim(), 1)
            if axis == 0:
                return v[0].reshape(1, -1)
            return v[0].flatten(0, axis - 1).flatten(1) if axis > 1 else v[0].flatten(1)
        if op == "Reshape":
            shape = _as_list(self._value(env, ins[1]))
            shape = [v[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return v[0].reshape(shape)
        if op in ("Squeeze", "Unsqueeze"):
            axes = attrs.get("axes") or (self._ints(env, ins[1]) if len(ins) > 1 else [])
            t = v[0]
            if not isinstance(t, torch.Tensor):  # a shape value: 0-d <-> 1-d
                return _as_list(t) if op == "Unsqueeze" else (t[0] if isinstance(t, list) else t)
            if op == "Unsqueeze":
                for a in sorted(a % (t.dim() + len(axes)) for a in axes):
                    t = t.unsqueeze(a)
                return t
            if not axes:
                return t.squeeze()
            for a in sorted((a % t.dim() for a in axes), reverse=True):
                t = t.squeeze(a)
            return t
        if op == "Concat":
            if not all(isinstance(t, torch.Tensor) for t in v):  # shape values
                return [i for t in v for i in _as_list(t)]
            return torch.cat(v, int(attrs["axis"]))
        if op == "Shape":
            return list(v[0].shape)[attrs.get("start", 0) : attrs.get("end", None)]
        if op == "Gather":
            axis, idx = int(attrs.get("axis", 0)), v[1]
            if not isinstance(v[0], torch.Tensor):  # an element of a shape
                return v[0][idx] if isinstance(idx, int) else [v[0][i] for i in idx]
            index = torch.as_tensor(idx, dtype=torch.long)
            picked = torch.index_select(v[0], axis, index.reshape(-1))
            return picked.reshape(*v[0].shape[:axis], *index.shape, *v[0].shape[axis + 1 :])
        if op == "Transpose":
            perm = attrs.get("perm") or list(reversed(range(v[0].dim())))
            return v[0].permute(*perm)
        if op == "Pad":
            mode = attrs.get("mode", b"constant")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            pads = attrs.get("pads") or self._ints(env, ins[1])
            n = len(pads) // 2
            torch_pads = []
            for d in reversed(range(n)):
                torch_pads += [pads[d], pads[d + n]]
            value = (
                float(v[2]) if len(v) > 2 and v[2] is not None else float(attrs.get("value", 0.0))
            )
            if mode == "constant":
                return F.pad(v[0], torch_pads, value=value)
            return F.pad(
                v[0], torch_pads[: 2 * (n - 2)], mode={"edge": "replicate"}.get(mode, mode)
            )
        raise ValueError(f"{self.source}: operator {op} is not supported")

    def _pool(self, op: str, x, attrs):
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ValueError(f"{self.source}: {op} with auto_pad is not supported")
        k = tuple(attrs["kernel_shape"])
        s = tuple(attrs.get("strides", [1] * len(k)))
        pads = list(attrs.get("pads", [0] * 2 * len(k)))
        ceil = bool(attrs.get("ceil_mode", 0))
        if pads[: len(k)] != pads[len(k) :]:
            x = F.pad(
                x, [pads[1], pads[3], pads[0], pads[2]], value=-math.inf if op == "MaxPool" else 0.0
            )
            pads = [0] * 2 * len(k)
        p = tuple(pads[: len(k)])
        if op == "MaxPool":
            return F.max_pool2d(x, k, s, p, tuple(attrs.get("dilations", [1, 1])), ceil_mode=ceil)
        return F.avg_pool2d(x, k, s, p, ceil, bool(attrs.get("count_include_pad", 0)))


class _BatchNorm(nn.modules.batchnorm._BatchNorm):
    """ONNX's BatchNormalization: over channel 1 of an input of any rank (``(N, C)`` after a
    fully connected layer as well as ``(N, C, H, W)``)."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"BatchNormalization needs (N, C, ...) input, got {input.dim()}-d")


def _as_list(v) -> list:
    """A shape value as a list of its elements. Elements of a tensor stay 0-d tensors: while
    tracing, the sizes of a tensor are such tensors, and keeping them keeps the batch symbolic."""
    if isinstance(v, torch.Tensor):
        return list(v.reshape(-1).unbind(0))
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _dims(value_info):
    return value_info.type.tensor_type.shape.dim


def _constant(attrs: dict) -> np.ndarray:
    from onnx import numpy_helper

    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for k in ("value_float", "value_int"):
        if k in attrs:
            return np.array(attrs[k])
    for k in ("value_floats", "value_ints"):
        if k in attrs:
            return np.array(list(attrs[k]))
    raise ValueError("a Constant node without a value")
