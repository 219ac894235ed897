"""The victim zoo: published configurations, a real ResNet-18, and the listing of shipped weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from bench.cli import app
from bench.registry import REGISTRY
from victims.resnet import BasicBlock as ResNetBlock
from victims.vgg import VGG
from victims.wideresnet import BasicBlock as WideBlock

# parameter counts of the published configurations (the papers' CIFAR-size figures: Xie et al. 2017,
# Simonyan & Zisserman 2015, He et al. 2016, Zagoruyko & Komodakis 2016)
PUBLISHED = {"resnext29": 34_425_546, "vgg19": 38_957_770, "resnet18": 11_175_370, "wrn28": 36_478_906}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_and_slim_configurations(name: str):
    factory = REGISTRY.get("victim", name).factory
    paper, slim = factory(config="paper"), factory(config="slim")
    assert sum(p.numel() for p in paper.parameters()) == PUBLISHED[name]
    assert sum(p.numel() for p in slim.parameters()) < 3_000_000
    x = torch.randn(2, 1, 32, 32)
    assert paper.eval()(x).shape == slim.eval()(x).shape == (2, 10)


def test_resnet18_is_a_resnet18_not_the_released_vgg():
    """AudioPure's released create_model('resnet18') returns VGG-19-BN (github.com/cychomatica/AudioPure); ours
    has ResNet-18's structure."""
    net = REGISTRY.get("victim", "resnet18").factory(config="paper")
    assert not any(isinstance(m, VGG) for m in net.modules())
    blocks = [m for m in net.modules() if isinstance(m, ResNetBlock)]
    assert len(blocks) == 8 and [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    assert (net.conv1.kernel_size, net.conv1.stride) == ((7, 7), (2, 2)) and isinstance(net.maxpool, nn.MaxPool2d)
    assert [getattr(net, f"layer{i}")[0].conv1.out_channels for i in range(1, 5)] == [64, 128, 256, 512]
    assert net.fc.in_features == 512 and sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 20
    convs = sum(isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1) for m in net.modules())
    assert convs + 1 == 18  # 17 weighted conv layers + the fully connected layer: "18 layers"


def test_published_state_dict_names():
    names = {n: set(REGISTRY.get("victim", n).factory(config="slim").state_dict()) for n in PUBLISHED}
    assert {"features.0.weight", "features.1.running_mean", "classifier.6.weight"} <= names["vgg19"]
    assert {"conv1.weight", "layer2.0.downsample.0.weight", "fc.weight"} <= names["resnet18"]
    assert {"block1.layer.0.conv1.weight", "block2.layer.0.convShortcut.weight", "bn1.weight"} <= names["wrn28"]
    assert {"conv_1_3x3.weight", "stage_1.stage_1_bottleneck_0.conv_reduce.weight"} <= names["resnext29"]
    wide = REGISTRY.get("victim", "wrn28").factory(config="paper")
    assert sum(isinstance(m, WideBlock) for m in wide.modules()) == 12 and wide.fc.in_features == 640


def test_list_victims_shows_configurations_and_shipped_weights():
    out = CliRunner().invoke(app, ["list", "victims"])
    assert out.exit_code == 0
    for name in PUBLISHED:
        line = next(line for line in out.output.splitlines() if line.strip().startswith(name))
        assert "configs: slim*, paper;" in line
