"""ResNet-20 style networks for small images (He et al. 2016, the CIFAR variant).

Three stages of ``n`` basic blocks with widths ``w, 2w, 4w``; the shortcut is the identity or, where
the shape changes, a 1x1 convolution with batch norm ("option B"), which keeps every residual add
a plain tensor add that a dependency graph can follow.
"""

from __future__ import annotations

from torch import Tensor, nn

from budgetnas.models import register_model


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for 28x28 or 32x32 inputs.

    Example:
        >>> import torch
        >>> net = ResNetCifar(depth=20, in_channels=1, num_classes=10)
        >>> net(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, depth: int = 20, in_channels: int = 3, num_classes: int = 10, width: int = 16
    ):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        c = width
        for stage, mult in enumerate((1, 2, 4)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(c, width * mult, stride))
                c = width * mult
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def distill_points(self) -> list[str]:
        """Names of the modules whose outputs inner distillation matches."""
        return [f"blocks.{i}" for i in range(len(self.blocks))]

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(self.pool(x).flatten(1))


@register_model("resnet20")
def resnet20(in_channels: int = 3, num_classes: int = 10, width: int = 16) -> ResNetCifar:
    return ResNetCifar(20, in_channels, num_classes, width)


@register_model("resnet8")
def resnet8(in_channels: int = 3, num_classes: int = 10, width: int = 16) -> ResNetCifar:
    """The smallest member (one block per stage), for fast tests."""
    return ResNetCifar(8, in_channels, num_classes, width)


__all__ = ["BasicBlock", "ResNetCifar", "resnet8", "resnet20"]
