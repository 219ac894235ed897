"""WideResNet-28 for 1×32×32 dB mel spectrograms.

Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, in xternalz's pre-activation form that
github.com/tugstugi/pytorch-speech-commands and AudioPure (github.com/cychomatica/AudioPure) use:
channels 16, 16k, 32k, 64k, four BasicBlocks per group, strides 1, 2, 2, final BN-ReLU, 8×8 average pool,
Linear → classes. Names (``block1.layer.0.conv1``, ``block2.layer.0.convShortcut``, ``bn1``, ``fc``) follow
that code.
"""

from __future__ import annotations

import math
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from bench.frontend import Wave2Mel
from bench.registry import register

WIDEN = {"paper": 10, "slim": 2}  # WRN-28-10 as published; WRN-28-2 trains on 2 cores


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.drop_rate = drop_rate
        self.equal = in_planes == out_planes
        self.convShortcut = None if self.equal else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(pre)))
        out = self.conv2(F.dropout(out, p=self.drop_rate, training=self.training) if self.drop_rate else out)
        # as xternalz's code: the shortcut of a widening block starts from the pre-activated input
        return out + (x if self.equal else self.convShortcut(pre))


class NetworkBlock(nn.Module):
    def __init__(self, layers: int, in_planes: int, out_planes: int, stride: int, drop_rate: float):
        super().__init__()
        self.layer = nn.Sequential(*[BasicBlock(in_planes if i == 0 else out_planes, out_planes,
                                                stride if i == 0 else 1, drop_rate) for i in range(layers)])

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth: int = 28, widen_factor: int = 10, num_classes: int = 10, in_channels: int = 1,
                 drop_rate: float = 0.0):
        super().__init__()
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, 1, 1, bias=False)
        self.block1 = NetworkBlock(n, channels[0], channels[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, channels[1], channels[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, channels[2], channels[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.fc = nn.Linear(channels[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.relu(self.bn1(out))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))  # avg_pool(8) on the 8×8 map


@register("victim", "wrn28", frontend=Wave2Mel)
def wrn28(config: Literal["slim", "paper"] = "slim", num_classes: int = 10) -> nn.Module:
    """WideResNet-28 on dB mel (Zagoruyko & Komodakis 2016); `paper` = WRN-28-10, `slim` = WRN-28-2."""
    return WideResNet(28, WIDEN[config], num_classes)
