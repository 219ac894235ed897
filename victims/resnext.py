"""ResNeXt-29 for 1×32×32 dB mel spectrograms.

Xie et al., "Aggregated Residual Transformations for Deep Neural Networks", CVPR 2017, in the CIFAR form
(``CifarResNeXt``) that github.com/tugstugi/pytorch-speech-commands and AudioPure (github.com/cychomatica/AudioPure,
Wu et al., ICLR 2023) use.
Module and parameter names follow that code, so its published state dicts load unchanged.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from bench.frontend import Wave2Mel
from bench.registry import register

CONFIGS: dict[str, dict[str, int]] = {
    "paper": dict(cardinality=8, base_width=64, widen_factor=4),  # 8×64d, 34.4 M parameters
    "slim": dict(cardinality=4, base_width=8, widen_factor=2),  # 4×8d widen 2, trains on 2 cores in minutes
}


class ResNeXtBottleneck(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, cardinality: int, base_width: int,
                 widen_factor: int):
        super().__init__()
        width = cardinality * int(base_width * out_channels / (widen_factor * 64.0))
        self.conv_reduce = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn_reduce = nn.BatchNorm2d(width)
        self.conv_conv = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=cardinality, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.conv_expand = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn_expand = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if in_channels != out_channels:
            shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.shortcut.add_module("shortcut_conv", shortcut)
            self.shortcut.add_module("shortcut_bn", nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn_reduce(self.conv_reduce(x)))
        h = F.relu(self.bn(self.conv_conv(h)))
        h = self.bn_expand(self.conv_expand(h))
        return F.relu(self.shortcut(x) + h)


class CifarResNeXt(nn.Module):
    def __init__(self, cardinality: int, base_width: int, widen_factor: int, depth: int = 29,
                 num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.block_depth = (depth - 2) // 9
        self.stages = [64, 64 * widen_factor, 128 * widen_factor, 256 * widen_factor]
        self.conv_1_3x3 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn_1 = nn.BatchNorm2d(64)
        for i, stride in enumerate((1, 2, 2), start=1):
            stage = nn.Sequential()
            for b in range(self.block_depth):
                cin = self.stages[i - 1] if b == 0 else self.stages[i]
                stage.add_module(f"stage_{i}_bottleneck_{b}", ResNeXtBottleneck(
                    cin, self.stages[i], stride if b == 0 else 1, cardinality, base_width, widen_factor))
            self.add_module(f"stage_{i}", stage)
        self.classifier = nn.Linear(self.stages[3], num_classes)
        nn.init.kaiming_normal_(self.classifier.weight)
        for name, p in self.named_parameters():
            if name.endswith("weight") and "conv" in name:
                nn.init.kaiming_normal_(p, mode="fan_out")
            elif name.endswith("weight") and "bn" in name:
                nn.init.ones_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn_1(self.conv_1_3x3(x)))
        x = self.stage_3(self.stage_2(self.stage_1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # avg_pool(8) on the 8×8 map of a 32×32 input
        return self.classifier(x)


@register("victim", "resnext29", frontend=Wave2Mel)
def resnext29(config: Literal["slim", "paper"] = "slim", num_classes: int = 10) -> nn.Module:
    """ResNeXt-29 on dB mel (Xie et al. 2017); `paper` = 8×64d as published, `slim` = 4×8d widen 2."""
    return CifarResNeXt(**CONFIGS[config], num_classes=num_classes)
