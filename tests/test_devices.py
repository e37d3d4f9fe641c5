"""Device and precision settings: resolution, errors, autocast, loss scaling, and the CPU fp32
copies that latencies and exports are taken from."""

import pytest
import torch
from torch import nn

from budgetnas.devices import (
    Runtime,
    cpu_fp32_copy,
    on_device,
    resolve_device,
    resolve_precision,
    state_on_cpu,
)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_takes_cuda_then_mps_then_the_cpu(monkeypatch, no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("AUTO") == torch.device("cuda")


def test_cuda_devices_are_checked_against_the_gpus_there_are(two_gpus):
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"2 visible GPU\(s\) \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")
    with pytest.raises(ValueError, match="cuda or cuda:N"):
        resolve_device("cuda:x")


def test_cuda_without_a_gpu_says_why_and_what_to_pass(monkeypatch, no_gpu):
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ValueError, match=r"this torch build has no CUDA.*--device cpu"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(ValueError, match=r"no GPU is visible.*--device auto"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match=r"MPS is not available.*--device cpu"):
        resolve_device("mps")
    with pytest.raises(ValueError, match="unknown device 'gpu'; choose auto, cpu, cuda"):
        resolve_device("gpu")


def test_precision_auto_is_bf16_on_capable_gpus_fp16_on_others_fp32_elsewhere(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", cuda) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", cuda) is torch.float16
    assert resolve_precision("fp16", "cuda:1") is torch.float16
    for device in ("cpu", "mps"):
        assert resolve_precision("auto", device) is None
        assert resolve_precision("fp32", device) is None
        assert resolve_precision("bf16", device) is torch.bfloat16


def test_fp16_on_the_cpu_and_unknown_precisions_are_refused():
    with pytest.raises(ValueError, match="'fp16' is for CUDA GPUs; on the CPU pass --precision"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        resolve_precision("half", "cpu")
    with pytest.raises(ValueError, match="fp16"):
        Runtime.resolve("cpu", "fp16")


def test_only_fp16_gets_a_gradient_scaler():
    assert Runtime.resolve("cpu", "bf16").scaler() is None
    assert Runtime.resolve("cpu", "fp32").scaler() is None
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nothing():
        scaler = Runtime(torch.device("cuda"), torch.float16).scaler()
    assert isinstance(scaler, torch.amp.GradScaler)
    assert Runtime(torch.device("cuda"), torch.float16).precision == "fp16"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_autocast_runs_the_forward_pass_in_bf16_on_the_cpu_and_weights_stay_fp32():
    net = nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 8, 8)
    with Runtime.resolve("cpu", "bf16").autocast():
        y = net(x)
    assert y.dtype is torch.bfloat16 and net.weight.dtype is torch.float32
    with Runtime.resolve("cpu", "fp32").autocast():
        assert net(x).dtype is torch.float32
    rt = Runtime.resolve("cpu", "auto")
    assert rt.describe() == "cpu fp32" and rt.move(x) is x


def test_a_cpu_fp32_copy_leaves_the_network_as_it_was():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).to(torch.bfloat16).train()
    net = net.to(memory_format=torch.channels_last)
    copy = cpu_fp32_copy(net)
    assert copy is not net and not copy.training and net.training
    state = copy.state_dict()
    assert all(t.device.type == "cpu" for t in state.values())
    assert all(t.dtype is torch.float32 for t in state.values() if t.is_floating_point())
    assert copy[0].weight.is_contiguous()
    assert net[0].weight.dtype is torch.bfloat16
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_state_on_cpu_moves_nested_tensors_and_keeps_the_rest():
    state = {"a": [torch.ones(2).t(), 3], "b": {"c": (torch.zeros(1),)}, "d": "x"}
    out = state_on_cpu(state)
    assert out["a"][1] == 3 and out["d"] == "x" and isinstance(out["b"]["c"], tuple)
    assert out["a"][0].device.type == "cpu" and torch.equal(out["a"][0], state["a"][0])


def test_on_device_moves_the_module_back():
    net = nn.Linear(2, 2)
    with on_device(net, "cpu") as moved:
        assert moved is net
    assert net.weight.device.type == "cpu"


def _recording(net: nn.Module) -> list:
    """A forward hook on ``net`` that records the module, parameter dtype/device, and layout it
    runs with (a deep copy carries the hook along)."""
    seen = []

    def hook(module, inputs, output):
        w = module[0].weight
        seen.append(
            (module, w.dtype, w.device.type, w.is_contiguous(), inputs[0].dtype, module.training)
        )

    net.register_forward_hook(hook)
    return seen


@pytest.mark.parametrize("backend", ["torch-cpu"])
def test_latency_is_measured_on_a_cpu_fp32_copy(backend, one_thread):
    from budgetnas.costs.latency import make_runner
    from budgetnas.pipeline.search import measure_networks

    # a network as training leaves it: bf16 weights, channels-last, in training mode
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).to(torch.bfloat16).train()
    net = net.to(memory_format=torch.channels_last)
    seen = _recording(net)
    make_runner(net, (1, 3, 8, 8), backend=backend)()
    module, dtype, device, contiguous, x_dtype, training = seen[-1]
    assert module is not net
    assert (dtype, device, contiguous, x_dtype, training) == (
        torch.float32, "cpu", True, torch.float32, False,
    )  # fmt: skip
    ms = measure_networks({"net": net}, (1, 3, 8, 8), {"backend": backend}, repeats=2, warmup=0)
    assert ms["net"] > 0
    assert all(m is not net for m, *_ in seen)  # the network itself never ran
    assert net[0].weight.dtype is torch.bfloat16 and net.training
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_exports_come_from_a_cpu_fp32_copy(tmp_path, one_thread):
    pytest.importorskip("onnxruntime")
    from budgetnas.pipeline.stages.export import export_network
    from budgetnas.spaces.mobilenet import MobileNetSpace
    from budgetnas.supernet import MobileNetSupernet, extract

    space = MobileNetSpace(preset="tiny")
    child = extract(MobileNetSupernet(space), space.smallest()).to(torch.bfloat16).train()
    out = export_network(child, space, tmp_path)
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "model.onnx").is_file()
    assert out["torchscript_max_abs_diff"] == 0.0
    assert next(child.parameters()).dtype is torch.bfloat16 and child.training
