"""Turn a TorchScript file back into an eager ``nn.Module`` whose layers channel pruning can see.

A scripted or traced module hides its layers behind compiled code: torch-pruning traces autograd
through ``nn.Conv2d`` / ``nn.BatchNorm`` / ``nn.Linear`` *modules* and finds none in it. This module
reads the TorchScript graph with every submodule call inlined, and rebuilds it as a
``torch.fx.GraphModule``:

* ``aten::_convolution`` / ``aten::conv2d`` / ``aten::conv1d`` become ``nn.Conv2d`` / ``nn.Conv1d``,
  ``aten::batch_norm`` a batch norm, ``aten::linear`` an ``nn.Linear``, each registered under the
  original layer's path (``blocks.0.conv1``) with its weights copied, so reports and ``--ignore``
  use the names the user knows;
* every other ``aten::`` / ``prim::`` op is called as it is (``torch.ops.aten.relu_`` ...), so
  activations, adds, pooling, reshapes and shape arithmetic carry over unchanged;
* control flow (``prim::If``, ``prim::Loop``), transposed convolutions and calls the graph does not
  inline raise :class:`TorchScriptError` naming the op.

The result is checked against the scripted module on an example input by the caller
(:func:`check_equivalent`). Traced modules (``torch.jit.trace``) convert best: their graphs are
straight-line; scripted modules with data-dependent branches do not.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn


class TorchScriptError(ValueError):
    """The TorchScript graph uses something this conversion cannot rebuild."""


class BatchNormAnyDim(nn.modules.batchnorm._BatchNorm):
    """Batch norm over channel dimension 1 for inputs of any rank (``aten::batch_norm``)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")


_CONV = {"aten::_convolution", "aten::conv2d", "aten::conv1d"}
_SKIP = {"prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::TupleConstruct"}


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent = root
    parts = path.split(".")
    for p in parts[:-1]:
        if not hasattr(parent, p) or not isinstance(getattr(parent, p), nn.Module):
            parent.add_module(p, nn.Module())
        parent = getattr(parent, p)
    parent.add_module(parts[-1], module)


def _op(node) -> tuple[object, list[str]]:
    """The callable of a graph node's op (its exact overload where the node has a schema) and
    the names of its trailing keyword-only arguments (the graph passes them positionally)."""
    kind = node.kind()
    ns, _, name = kind.partition("::")
    try:
        packet = getattr(getattr(torch.ops, ns), name)
    except (AttributeError, RuntimeError) as err:
        raise TorchScriptError(f"TorchScript op {kind} has no Python equivalent here") from err
    try:
        schema = torch._C.parse_schema(node.schema())
    except RuntimeError:  # "(no schema)": prim ops
        return packet, []
    fn = getattr(packet, schema.overload_name or "default")
    kw = [a.name for a in schema.arguments if a.kwarg_only]
    return fn, kw[: len(list(node.inputs()))]


@dataclass
class _Attr:
    """A module attribute reached by ``prim::GetAttr``: its dotted path and the object."""

    path: str
    obj: object


def _copy_into(module: nn.Module, **tensors: torch.Tensor | None) -> nn.Module:
    with torch.no_grad():
        for name, t in tensors.items():
            if t is not None:
                getattr(module, name).copy_(t)
    return module


class _Rebuild:
    """The state of one conversion: the fx graph being built, the root module the rebuilt layers
    are registered on, and what every TorchScript value became."""

    def __init__(self, ts: torch.jit.ScriptModule):
        self.ts = ts
        self.graph = ts.inlined_graph
        self.root = nn.Module()
        self.g = fx.Graph()
        self.env: dict = {}  # jit Value -> fx Node / Python value / _Attr
        self.used: set[str] = set()
        self.shared: dict[int, str] = {}  # id of a layer's stored tensor -> its rebuilt module

    def name_for(self, path: str) -> str:
        base = path or "layer"
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def arg(self, v):
        x = self.env[v]
        if isinstance(x, _Attr):
            if isinstance(x.obj, torch.Tensor):  # a tensor attribute used directly
                name = self.name_for(x.path).replace(".", "_")
                if isinstance(x.obj, nn.Parameter) or x.obj.requires_grad:
                    self.root.register_parameter(name, nn.Parameter(x.obj.detach().clone()))
                else:
                    self.root.register_buffer(name, x.obj.detach().clone())
                self.env[v] = self.g.get_attr(name)
                return self.env[v]
            raise TorchScriptError(f"module attribute {x.path!r} used as a value")
        return x

    def tensor_attr(self, v) -> tuple[str, torch.Tensor | None]:
        x = self.env[v]
        if isinstance(x, _Attr):
            return x.path, x.obj
        if x is None:
            return "", None
        raise TorchScriptError("a layer's weight is computed in the graph, not stored")

    def layer(self, x, key: torch.Tensor, path: str, module: nn.Module) -> fx.Node:
        """Call the module rebuilt for the layer whose stored tensor is ``key``: ``module`` the
        first time, the same one again when the layer is called twice."""
        if id(key) not in self.shared:
            self.shared[id(key)] = self.name_for(path)
            _set_module(self.root, self.shared[id(key)], module)
        return self.g.call_module(self.shared[id(key)], (x,))

    def run(self) -> fx.GraphModule:
        inputs = list(self.graph.inputs())
        self.env[inputs[0]] = _Attr("", self.ts)
        for i, v in enumerate(inputs[1:]):
            self.env[v] = self.g.placeholder(v.debugName().split(".")[0] or f"input_{i}")
        for node in self.graph.nodes():
            self.node(node)
        rets = [self.arg(v) for v in self.graph.outputs()]
        self.g.output(rets[0] if len(rets) == 1 else tuple(rets))
        gm = fx.GraphModule(self.root, self.g, class_name="FromTorchScript")
        gm.eval()
        return gm

    def node(self, node) -> None:
        kind = node.kind()
        outs = list(node.outputs())
        ins = list(node.inputs())
        if kind in ("prim::If", "prim::Loop"):
            raise TorchScriptError(
                f"the TorchScript graph has control flow ({kind}); export it with "
                "torch.jit.trace, or pass the Python class with --model-class"
            )
        if kind == "prim::Constant":
            self.env[outs[0]] = outs[0].toIValue()
        elif kind == "prim::GetAttr":
            owner = self.env[ins[0]]
            name = node.s("name")
            path = f"{owner.path}.{name}" if owner.path else name
            self.env[outs[0]] = _Attr(path, getattr(owner.obj, name))
        elif kind in ("prim::ListConstruct", "prim::TupleConstruct"):
            items = [self.arg(v) for v in ins]
            self.env[outs[0]] = list(items) if kind == "prim::ListConstruct" else tuple(items)
        elif kind in _CONV:
            self.env[outs[0]] = self.conv(kind, ins)
        elif kind == "aten::batch_norm":
            self.env[outs[0]] = self.batch_norm(ins)
        elif kind == "aten::linear":
            self.env[outs[0]] = self.linear(ins)
        else:
            self.call(node, ins, outs)

    def conv(self, kind: str, ins) -> fx.Node:
        wpath, weight = self.tensor_attr(ins[1])
        _, bias = self.tensor_attr(ins[2])
        stride, padding, dilation = (self.env[v] for v in ins[3:6])
        if kind == "aten::_convolution":
            if self.env[ins[6]]:
                raise TorchScriptError(f"transposed convolution {wpath} is not supported")
            groups = self.env[ins[8]]
        else:
            groups = self.env[ins[6]]
        if any(isinstance(a, fx.Node) for a in (*stride, *padding, *dilation)) or isinstance(
            padding, str
        ):
            raise TorchScriptError(f"convolution {wpath} has computed or named padding")
        cls = {3: nn.Conv1d, 4: nn.Conv2d, 5: nn.Conv3d}[weight.dim()]
        module = cls(
            weight.shape[1] * groups,
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=tuple(stride),
            padding=tuple(padding),
            dilation=tuple(dilation),
            groups=groups,
            bias=bias is not None,
        )
        return self.layer(
            self.arg(ins[0]),
            weight,
            wpath.rpartition(".")[0],
            _copy_into(module, weight=weight, bias=bias),
        )

    def batch_norm(self, ins) -> fx.Node:
        wpath, weight = self.tensor_attr(ins[1])
        _, bias = self.tensor_attr(ins[2])
        _, mean = self.tensor_attr(ins[3])
        _, var = self.tensor_attr(ins[4])
        if mean is None or var is None:
            raise TorchScriptError(f"batch norm {wpath} has no running statistics")
        momentum, eps = self.env[ins[6]], self.env[ins[7]]
        module = BatchNormAnyDim(
            mean.numel(), eps=eps, momentum=momentum, affine=weight is not None
        )
        return self.layer(
            self.arg(ins[0]),
            mean,
            wpath.rpartition(".")[0] if wpath else "bn",
            _copy_into(module, running_mean=mean, running_var=var, weight=weight, bias=bias),
        )

    def linear(self, ins) -> fx.Node:
        wpath, weight = self.tensor_attr(ins[1])
        _, bias = self.tensor_attr(ins[2])
        module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        return self.layer(
            self.arg(ins[0]),
            weight,
            wpath.rpartition(".")[0],
            _copy_into(module, weight=weight, bias=bias),
        )

    def call(self, node, ins, outs) -> None:
        """Any other op, called as it is."""
        fn, kw_names = _op(node)
        values = [self.arg(v) for v in ins]
        n_pos = len(values) - len(kw_names)
        kwargs = dict(zip(kw_names, values[n_pos:], strict=True))
        result = self.g.call_function(fn, tuple(values[:n_pos]), kwargs)
        if len(outs) == 1:
            self.env[outs[0]] = result
        else:
            for i, o in enumerate(outs):
                self.env[o] = self.g.call_function(operator.getitem, (result, i))


def from_torchscript(ts: torch.jit.ScriptModule) -> fx.GraphModule:
    """An eager ``GraphModule`` computing what ``ts`` computes, with real layer modules."""
    return _Rebuild(ts).run()


def check_equivalent(
    ts: torch.jit.ScriptModule, net: nn.Module, example: torch.Tensor, atol: float = 1e-4
) -> float:
    """Max abs difference of the two on ``example`` (eval mode); raises if above ``atol``."""
    ts.eval()
    net.eval()
    with torch.no_grad():
        a, b = ts(example), net(example)
    diff = float((a - b).abs().max())
    if not diff <= atol:
        raise TorchScriptError(
            f"the module rebuilt from TorchScript differs from it by {diff:.3g} on an example "
            "input; pass the Python class with --model-class instead"
        )
    return diff


__all__ = ["BatchNormAnyDim", "TorchScriptError", "check_equivalent", "from_torchscript"]
