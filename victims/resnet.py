"""ResNet-18 for 1×32×32 dB mel spectrograms.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, torchvision's ImageNet stem as
github.com/tugstugi/pytorch-speech-commands keeps it: 7×7 stride-2 conv and 3×3 max-pool,
four stages of two BasicBlocks, global average pool, Linear → classes. A real ResNet-18: the released
``create_model('resnet18')`` of AudioPure (github.com/cychomatica/AudioPure,
``audio_models/ConvNets_SpeechCommands/models/__init__.py``) silently returns VGG-19-BN. Names (``conv1``,
``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``) follow torchvision.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from bench.frontend import Wave2Mel
from bench.registry import register

WIDTH = {"paper": 64, "slim": 16}  # channels of the first stage; later stages double


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, width: int = 64, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        planes = [width, 2 * width, 4 * width, 8 * width]
        in_planes = width
        for i, (p, stride) in enumerate(zip(planes, (1, 2, 2, 2), strict=True), start=1):
            self.add_module(f"layer{i}", nn.Sequential(BasicBlock(in_planes, p, stride), BasicBlock(p, p)))
            in_planes = p
        self.fc = nn.Linear(planes[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # 32×32 → 1×1 after the stem and 3 strides
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


@register("victim", "resnet18", frontend=Wave2Mel)
def resnet18(config: Literal["slim", "paper"] = "slim", num_classes: int = 10) -> nn.Module:
    """ResNet-18 on dB mel (He et al. 2016); `paper` = widths 64..512, `slim` = 16..128."""
    return ResNet18(WIDTH[config], num_classes)
