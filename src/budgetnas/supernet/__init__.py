"""The weight-sharing supernet of the elastic MobileNetV3 space, standalone children, extraction.

Example:
    >>> import torch
    >>> from budgetnas.spaces.mobilenet import MobileNetSpace
    >>> space = MobileNetSpace(preset="tiny")
    >>> net = MobileNetSupernet(space).eval()
    >>> arch = space.sample(0)
    >>> net.set_active(arch)
    >>> x = torch.randn(2, 3, 16, 16)
    >>> bool((extract(net, arch).eval()(x) - net(x)).abs().max() < 1e-5)
    True
"""

from budgetnas.supernet.bn import recalibrate_bn
from budgetnas.supernet.extract import extract
from budgetnas.supernet.standalone import MobileNetChild, build_network
from budgetnas.supernet.supernet import ElasticBlock, MobileNetSupernet

__all__ = [
    "ElasticBlock",
    "MobileNetChild",
    "MobileNetSupernet",
    "build_network",
    "extract",
    "recalibrate_bn",
]
