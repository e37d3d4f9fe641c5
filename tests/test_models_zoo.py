import pytest
import torch

from budgetnas.models import build_model, list_models
from budgetnas.models.checkpoint import load_network, save_checkpoint


@pytest.mark.parametrize("name", ["resnet8", "resnet20", "mobilenetv2_se"])
@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3)])
def test_shapes(name, size, channels):
    net = build_model(name, in_channels=channels, num_classes=7).eval()
    assert net(torch.zeros(2, channels, size, size)).shape == (2, 7)
    assert all(p in dict(net.named_modules()) for p in net.distill_points())


def test_registry_lists_and_errors():
    assert {"resnet20", "resnet8", "mobilenetv2_se"} <= set(list_models())
    with pytest.raises(KeyError, match="unknown model"):
        build_model("resnet21")
    with pytest.raises(ValueError, match="6n\\+2"):
        from budgetnas.models.resnet import ResNetCifar

        ResNetCifar(depth=21)


def test_checkpoint_roundtrip(tmp_path):
    net = build_model("resnet8", in_channels=1, num_classes=3, width=8).eval()
    path = save_checkpoint(
        tmp_path / "a.pt", net, "resnet8", {"in_channels": 1, "num_classes": 3, "width": 8}
    )
    back, desc = load_network(path)
    x = torch.randn(2, 1, 16, 16)
    assert desc["model"] == "resnet8"
    assert torch.allclose(back.eval()(x), net(x))


def test_state_dict_with_model_class(tmp_path):
    net = build_model("resnet8", in_channels=1, num_classes=3).eval()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    back, _ = load_network(
        tmp_path / "sd.pt",
        "budgetnas.models.resnet:ResNetCifar",
        {"depth": 8, "in_channels": 1, "num_classes": 3},
    )
    x = torch.randn(1, 1, 16, 16)
    assert torch.allclose(back.eval()(x), net(x))
    with pytest.raises(ValueError, match="--model-class"):
        load_network(tmp_path / "sd.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_network(tmp_path / "sd.pt", "budgetnas.models.resnet:ResNetCifar", {"depth": 14})
