"""Unconditional DiffWave ε-network (Kong et al., "DiffWave: A Versatile Diffusion Model for Audio Synthesis",
ICLR 2021), in the form of philsyn/DiffWave-unconditional that AudioPure and DualPure load.

Module and parameter names follow that code (as the released AudioPure code, github.com/cychomatica/AudioPure,
uses it), so its published ``model_state_dict`` loads unchanged: ``init_conv.0.conv.weight_g``,
``residual_layer.fc_t1.weight``, ``residual_layer.residual_blocks.{i}.dilated_conv_layer.conv.weight_v``,
``final_conv.2.conv.weight`` ...
The network maps (x_t, step index) to ε̂ and knows nothing of the schedule.

Quirk kept on purpose: the released residual block adds the step embedding to its input *in place*, so the
residual output is (x + fc_t(emb) + res)·sqrt(½), not (x + res)·sqrt(½); the published weights depend on it.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONFIGS: dict[str, dict[str, int]] = {
    # philsyn ch256_T200_betaT0.02 config.json: 36 layers, 256 channels, dilations 1..2048 three times; 24.1 M
    "paper": dict(res_channels=256, skip_channels=256, num_res_layers=36, dilation_cycle=12,
                  embed_in=128, embed_mid=512, embed_out=512),
    # trains on 2 CPU cores: 6 layers, 32 channels, dilations 1..32
    "slim": dict(res_channels=32, skip_channels=32, num_res_layers=6, dilation_cycle=6,
                 embed_in=128, embed_mid=256, embed_out=256),
}


class WeightNormConv1d(nn.Module):
    """Conv1d with weight normalisation w = g·v/‖v‖ (Salimans & Kingma 2016), stored as ``weight_g``,
    ``weight_v``, ``bias`` like ``torch.nn.utils.weight_norm`` did, so published state dicts load as they are."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        v = torch.empty(out_channels, in_channels, kernel_size)
        nn.init.kaiming_normal_(v)
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.flatten(1).norm(dim=1).view(-1, 1, 1).clone())
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.dilation = dilation
        self.padding = dilation * (kernel_size - 1) // 2  # "same", non-causal

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight_g * self.weight_v / self.weight_v.flatten(1).norm(dim=1).view(-1, 1, 1)
        return F.conv1d(x, weight, self.bias, padding=self.padding, dilation=self.dilation)


class Conv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = WeightNormConv1d(in_channels, out_channels, kernel_size, dilation)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class ZeroConv1d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def step_embedding(steps: Tensor, dim: int) -> Tensor:
    """[sin, cos](t·exp(−log(10000)/(dim/2 − 1)·k)), k = 0..dim/2−1, for 0-based step indices (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=steps.device, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = steps.float().view(-1, 1) * freqs.view(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, res_channels: int, skip_channels: int, dilation: int, embed_out: int):
        super().__init__()
        self.fc_t = nn.Linear(embed_out, res_channels)
        self.dilated_conv_layer = Conv(res_channels, 2 * res_channels, kernel_size=3, dilation=dilation)
        self.res_conv = WeightNormConv1d(res_channels, res_channels)
        self.skip_conv = WeightNormConv1d(res_channels, skip_channels)

    def forward(self, x: Tensor, embedding: Tensor) -> tuple[Tensor, Tensor]:
        h = x + self.fc_t(embedding).unsqueeze(-1)  # the released in-place add: h also feeds the residual
        h2 = self.dilated_conv_layer(h)
        c = h2.shape[1] // 2
        out = torch.tanh(h2[:, :c]) * torch.sigmoid(h2[:, c:])
        return (h + self.res_conv(out)) * math.sqrt(0.5), self.skip_conv(out)


class ResidualGroup(nn.Module):
    def __init__(self, res_channels: int, skip_channels: int, num_res_layers: int, dilation_cycle: int,
                 embed_in: int, embed_mid: int, embed_out: int):
        super().__init__()
        self.embed_in = embed_in
        self.fc_t1 = nn.Linear(embed_in, embed_mid)
        self.fc_t2 = nn.Linear(embed_mid, embed_out)
        self.residual_blocks = nn.ModuleList(
            ResidualBlock(res_channels, skip_channels, 2 ** (n % dilation_cycle), embed_out)
            for n in range(num_res_layers)
        )

    def forward(self, x: Tensor, steps: Tensor) -> Tensor:
        embedding = F.silu(self.fc_t2(F.silu(self.fc_t1(step_embedding(steps, self.embed_in)))))
        skip = torch.zeros((), device=x.device, dtype=x.dtype)
        for block in self.residual_blocks:
            x, skip_n = block(x, embedding)
            skip = skip + skip_n
        return skip * math.sqrt(1.0 / len(self.residual_blocks))


class DiffWave(nn.Module):
    """ε̂ = DiffWave(x_t, index): (B, 1, T) waveform and (B,) 0-based step indices → (B, 1, T)."""

    def __init__(self, res_channels: int, skip_channels: int, num_res_layers: int, dilation_cycle: int,
                 embed_in: int = 128, embed_mid: int = 512, embed_out: int = 512):
        super().__init__()
        self.init_conv = nn.Sequential(Conv(1, res_channels), nn.ReLU())
        self.residual_layer = ResidualGroup(res_channels, skip_channels, num_res_layers, dilation_cycle,
                                            embed_in, embed_mid, embed_out)
        self.final_conv = nn.Sequential(Conv(skip_channels, skip_channels), nn.ReLU(), ZeroConv1d(skip_channels, 1))

    def forward(self, x: Tensor, steps: Tensor) -> Tensor:
        return self.final_conv(self.residual_layer(self.init_conv(x), steps))


def diffwave(config: Literal["slim", "paper"] = "slim") -> DiffWave:
    return DiffWave(**CONFIGS[config])
