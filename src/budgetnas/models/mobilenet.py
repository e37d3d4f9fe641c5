"""A MobileNetV2-style network with squeeze-and-excitation, sized for 28x28/32x32 inputs.

Inverted residual blocks (1x1 expand, depthwise 3x3, optional SE, 1x1 project, identity shortcut
when shapes match), as in MobileNetV2 / MobileNetV3. Channel groups here are tied by depthwise
convolutions (in = out), SE gates (the excite conv's outputs multiply the block's channels) and the
residual adds.
"""

from __future__ import annotations

from torch import Tensor, nn

from budgetnas.models import register_model

__all__ = [
    "MOBILENET_SMALL",
    "InvertedResidual",
    "MobileNetV2SE",
    "SigmoidSqueezeExcite",
    "mobilenetv2_se",
]

# (expansion, out channels, repeats, stride, squeeze-excite)
MOBILENET_SMALL = (
    (1, 16, 1, 1, False),
    (4, 24, 2, 2, False),
    (4, 32, 2, 2, True),
    (4, 64, 2, 1, True),
)


class SigmoidSqueezeExcite(nn.Module):
    """Squeeze-and-excitation of MobileNetV2-SE: average pool, 1x1 reduce to ``max(8, channels //
    reduction)`` + ReLU, 1x1 expand + *sigmoid*, channel-wise scale.

    It differs from the supernet's :class:`budgetnas.supernet.layers.SqueezeExcite` (MobileNetV3:
    a *hard* sigmoid gate and a reduced width given by the block descriptor), and keeps its own
    submodules (``pool``, ``act``, ``gate``) so that pickled pruned networks load unchanged.

    Example:
        >>> import torch
        >>> SigmoidSqueezeExcite(16)(torch.ones(1, 16, 4, 4)).shape
        torch.Size([1, 16, 4, 4])
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


#: the former name, kept so that networks pickled before the rename still load
SqueezeExcite = SigmoidSqueezeExcite


class InvertedResidual(nn.Module):
    """Inverted residual block of MobileNetV2-SE (1x1 expand, depthwise 3x3, optional SE, 1x1
    project, identity shortcut when shapes match)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, se: bool):
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
        ]
        if se:
            layers.append(SigmoidSqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class MobileNetV2SE(nn.Module):
    """MobileNetV2 with squeeze-and-excitation for small images (module doc).

    Example:
    >>> import torch
    >>> MobileNetV2SE(in_channels=1)(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        width_mult: float = 1.0,
        stem: int = 16,
        head: int = 256,
        config: tuple = MOBILENET_SMALL,
    ):
        super().__init__()
        c = max(8, int(stem * width_mult))
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU6()
        )
        blocks: list[nn.Module] = []
        for t, width, repeats, stride, se in config:
            c_out = max(8, int(width * width_mult))
            for i in range(repeats):
                blocks.append(InvertedResidual(c, c_out, stride if i == 0 else 1, t, se))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Conv2d(c, head, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU6()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head, num_classes)

    def distill_points(self) -> list[str]:
        return [f"blocks.{i}" for i in range(len(self.blocks))] + ["head"]

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.pool(x).flatten(1))


@register_model("mobilenetv2_se")
def mobilenetv2_se(
    in_channels: int = 3, num_classes: int = 10, width_mult: float = 1.0
) -> MobileNetV2SE:
    return MobileNetV2SE(in_channels, num_classes, width_mult)
