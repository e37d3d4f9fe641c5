import numpy as np
import pytest
import torch
from torch import nn

from budgetnas.costs.modules import count
from budgetnas.export.onnx import export_onnx
from budgetnas.models import build_model
from budgetnas.models.checkpoint import load_network
from budgetnas.models.onnx_import import load_onnx


class ViewHead(nn.Module):
    """The layers a hand-written classifier uses, some of which torch exports as several ONNX
    nodes: a grouped convolution, max and average pooling with ceil mode, hard activations, a
    clamp, x.view(x.size(0), -1) (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), a Gemm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2, groups=3, bias=True)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 3 * 3, 5)

    def forward(self, x):
        x = nn.functional.hardswish(self.bn(self.conv(x)))
        x = nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        x = x * nn.functional.hardsigmoid(x) + torch.clamp(x, 0.0, 6.0) - torch.sigmoid(x)
        x = nn.functional.avg_pool2d(x, 2, 1, ceil_mode=True, count_include_pad=False)
        x = nn.functional.leaky_relu(x, 0.1) / 2
        return self.fc(x.view(x.size(0), -1))


def _child():
    """A network of the tiny search space, as ``budgetnas run`` exports them (its exporter
    writes shared weights once, their second use an Identity node)."""
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.supernet.standalone import build_network

    space = MobileNetSpace(preset="tiny")
    return build_network(space, space.sample(np.random.default_rng(0)))


def _mlp_head():
    """A batch norm on (N, C) features, after a fully connected layer."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.ReLU(),
        nn.Linear(8, 3),
    )  # fmt: skip


def _trained_like(net):
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: build_model("resnet8", in_channels=3, num_classes=4, width=4), (3, 16, 16)),
        (lambda: build_model("mobilenetv2_se", in_channels=1, num_classes=10), (1, 28, 28)),
        (ViewHead, (3, 16, 16)),
        (_child, (3, 16, 16)),
        (_mlp_head, (1, 6, 6)),
    ],
    ids=["resnet8", "mobilenetv2_se", "hand-written", "found-network", "bn-after-linear"],
)
def test_an_onnx_file_runs_as_the_network_it_came_from(tmp_path, make, shape):
    net = _trained_like(make())
    path = tmp_path / "net.onnx"
    export_onnx(net, torch.randn(1, *shape), path)
    back = load_onnx(path)
    assert back.input_shape == shape
    x = torch.randn(3, *shape)
    with torch.no_grad():
        want, got = net(x), back(x)
    assert torch.allclose(got, want, atol=1e-4), float((got - want).abs().max())
    # counted like the original: the file's convolutions and linear layers are nn layers
    one = torch.zeros(1, *shape)
    assert count(back, one).macs == count(net, one).macs
    assert count(back, one).params >= count(net, one).params - sum(b.numel() for b in net.buffers())
    # traced at one batch size, it runs at another (the batch dimension stays symbolic)
    traced = torch.jit.trace(back, torch.randn(2, *shape), check_trace=False)
    with torch.no_grad():
        assert torch.allclose(traced(x[:1]), want[:1], atol=1e-4)
    # load_network takes it too, as the committee's --model and prune's --model do
    via, desc = load_network(path)
    assert isinstance(via, type(back)) and desc["model"] is None and desc["format"] == "onnx"


def test_bad_onnx_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ONNX file"):
        load_onnx(tmp_path / "missing.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x00not protobuf" * 10)
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        load_onnx(tmp_path / "bad.onnx")

    class Odd(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1).flatten(1)

    export_onnx(Odd(), torch.randn(1, 2, 3, 3), tmp_path / "odd.onnx")
    with pytest.raises(ValueError, match=r"CumSum.*TorchScript"):
        load_onnx(tmp_path / "odd.onnx")

    class TwoOut(nn.Module):
        def forward(self, x):
            return x.flatten(1), x.mean((2, 3))

    torch.onnx.export(TwoOut(), torch.randn(1, 2, 3, 3), tmp_path / "two.onnx", dynamo=False)
    with pytest.raises(ValueError, match="2 outputs"):
        load_onnx(tmp_path / "two.onnx")


def test_softmax_output_and_ort_agree(tmp_path):
    import onnxruntime as ort

    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Softmax(dim=1)).eval()  # fmt: skip
    path = tmp_path / "soft.onnx"
    export_onnx(net, torch.randn(1, 1, 6, 6), path)
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = load_onnx(path)(torch.from_numpy(x)).numpy()
    assert np.allclose(got, want, atol=1e-6) and np.allclose(got.sum(1), 1.0, atol=1e-6)


def test_a_graph_as_other_exporters_write_it_matches_onnxruntime(tmp_path):
    # tf2onnx-style: a constant Pad, a Conv with asymmetric pads ("SAME" with stride 2), Clip
    # with its bounds as inputs, HardSigmoid with attributes, ReduceMean with axes as an input
    # (opset 18), a Gemm without transB, Softmax
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)

    def const(name, a):
        return numpy_helper.from_array(np.asarray(a), name)

    inits = [
        const("pads", np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64)),
        const("w", rng.standard_normal((4, 2, 3, 3)).astype(np.float32)),
        const("b", rng.standard_normal(4).astype(np.float32)),
        const("lo", np.array(0.0, np.float32)),
        const("hi", np.array(6.0, np.float32)),
        const("axes", np.array([2, 3], np.int64)),
        const("shape", np.array([0, -1], np.int64)),
        const("fw", rng.standard_normal((4, 3)).astype(np.float32)),
        const("fb", rng.standard_normal(3).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
        helper.make_node("Conv", ["p", "w", "b"], ["c"], strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["r"]),
        helper.make_node("HardSigmoid", ["r"], ["h"], alpha=0.3, beta=0.4),
        helper.make_node("Mul", ["r", "h"], ["m"]),
        helper.make_node("ReduceMean", ["m", "axes"], ["g"], keepdims=1),
        helper.make_node("Reshape", ["g", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], alpha=0.5),
        helper.make_node("Softmax", ["z"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path = tmp_path / "tf.onnx"
    onnx.save(model, path)
    x = rng.standard_normal((3, 2, 9, 9)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    net = load_onnx(path)
    assert net.input_shape == (2, 9, 9)  # the batch is symbolic, the image is not
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    assert np.allclose(got, want, atol=1e-5), np.abs(got - want).max()


def test_prune_refuses_an_onnx_file(tmp_path, capsys):
    from budgetnas.cli.main import main

    net = build_model("resnet8", in_channels=3, num_classes=4, width=4).eval()
    export_onnx(net, torch.zeros(1, 3, 16, 16), tmp_path / "r.onnx")
    argv = ["prune", "--model", str(tmp_path / "r.onnx"), "--data", "synthetic",
            "--budget", "params_m<=0.01", "--out", str(tmp_path / "p")]  # fmt: skip
    assert main(argv) == 2
    assert "ONNX file's layers cannot be pruned" in capsys.readouterr().err
