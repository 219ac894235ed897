"""VGG-19 with batch norm for 1×32×32 dB mel spectrograms.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015,
configuration E, in the 32×32 form of tugstugi/pytorch-speech-commands as AudioPure vendors it
(github.com/cychomatica/AudioPure, ``audio_models/ConvNets_SpeechCommands``): five max-pools take 32 to 1,
then Linear(512, 4096) → 4096 → classes.
Module names (``features.{i}``, ``classifier.{0,3,6}``) follow that code, so published weights map on.
"""

from __future__ import annotations

import math
from typing import Literal

from torch import Tensor, nn

from bench.frontend import Wave2Mel
from bench.registry import register

CFG_E = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
WIDTH = {"paper": 1.0, "slim": 0.25}  # slim: a quarter of every layer's width, trains on 2 cores in minutes


class VGG(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for v in CFG_E:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out = int(v * width)
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*layers)
        hidden = int(4096 * width)
        self.classifier = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():  # torchvision's VGG initialisation, as the vendored code
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (9 * m.out_channels)))
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


@register("victim", "vgg19", frontend=Wave2Mel)
def vgg19(config: Literal["slim", "paper"] = "slim", num_classes: int = 10) -> nn.Module:
    """VGG-19-BN on dB mel (Simonyan & Zisserman 2015, cfg E); `paper` = full width, `slim` = ×0.25."""
    return VGG(WIDTH[config], num_classes)
