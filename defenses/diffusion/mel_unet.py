"""The mel-spectrogram ε-network: openai/improved-diffusion's ``UNetModel`` (Nichol & Dhariwal, "Improved
Denoising Diffusion Probabilistic Models", ICML 2021) as AudioPure's DiffSpec and DualPure's FDP use it.

2-D, one input and one output channel (ε-prediction), image 32×32, sinusoidal step embedding, residual
blocks with scale-shift norm, multi-head self-attention at the configured downsampling factors. Module and
parameter names follow improved-diffusion (``time_embed.0.weight``, ``input_blocks.1.0.in_layers.2.weight``,
``middle_block.1.qkv.weight``, ``out.2.weight`` ...), so a published plain state dict loads unchanged
(AudioPure's and DualPure's released code: github.com/cychomatica/AudioPure,
github.com/Sec4ai/DualPure). The network never sees the schedule.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONFIGS: dict[str, dict] = {
    # DiffSpec / DualPure: 128 channels, mult 1,2,2,2, 3 res blocks, attention at 16×16 and 8×8, 4 heads
    "paper": dict(model_channels=128, channel_mult=(1, 2, 2, 2), num_res_blocks=3, attention_ds=(2, 4),
                  num_heads=4, norm_groups=32, dropout=0.3),
    # 2 CPU cores: 16/32/64 channels, one res block per level, attention at 8×8
    "slim": dict(model_channels=16, channel_mult=(1, 2, 4), num_res_blocks=1, attention_ds=(4,),
                 num_heads=1, norm_groups=8, dropout=0.0),
}


def zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class GroupNorm32(nn.GroupNorm):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).type(x.dtype)


def timestep_embedding(steps: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """improved-diffusion's [cos, sin] embedding of (B,) step indices → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=steps.device) / half)
    angles = steps.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, channels: int, emb_channels: int, out_channels: int, groups: int, dropout: float):
        super().__init__()
        self.in_layers = nn.Sequential(GroupNorm32(groups, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels))  # scale and shift
        self.out_layers = nn.Sequential(GroupNorm32(groups, out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        zero(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers(x)
        scale, shift = self.emb_layers(emb)[..., None, None].chunk(2, dim=1)
        h = self.out_layers[0](h) * (1 + scale) + shift
        for layer in self.out_layers[1:]:
            h = layer(h)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over the 2-D positions; heads split the qkv channels as improved-diffusion does
    (reshape to (B·heads, 3·C/heads, N)), which the published weights assume."""

    def __init__(self, channels: int, num_heads: int, groups: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm = GroupNorm32(groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x)).reshape(b * self.num_heads, -1, x.shape[-1])
        q, k, v = qkv.chunk(3, dim=1)
        scale = 1.0 / math.sqrt(math.sqrt(q.shape[1]))
        weight = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale).float(), dim=-1).type(q.dtype)
        h = torch.einsum("bts,bcs->bct", weight, v).reshape(b, -1, x.shape[-1])
        return (x + self.proj_out(h)).reshape(b, c, *spatial)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class StepSequential(nn.Sequential):
    """improved-diffusion's ``TimestepEmbedSequential``: passes the embedding to the layers that take it."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, (ResBlock, AttentionBlock, Downsample, Upsample)) else layer(x)
        return x


class MelUNet(nn.Module):
    """ε̂ = MelUNet(m_t, index): (B, 1, 32, 32) standardised mel and (B,) 0-based step indices → (B, 1, 32, 32)."""

    def __init__(self, model_channels: int, channel_mult: tuple[int, ...], num_res_blocks: int,
                 attention_ds: tuple[int, ...], num_heads: int, norm_groups: int, dropout: float = 0.0,
                 in_channels: int = 1, out_channels: int = 1):
        super().__init__()
        self.model_channels = model_channels
        emb = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb), nn.SiLU(), nn.Linear(emb, emb))
        block = lambda cin, cout: ResBlock(cin, emb, cout, norm_groups, dropout)  # noqa: E731
        attention = lambda ch: AttentionBlock(ch, num_heads, norm_groups)  # noqa: E731

        self.input_blocks = nn.ModuleList([StepSequential(nn.Conv2d(in_channels, model_channels, 3, padding=1))])
        skips, ch, ds = [model_channels], model_channels, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [block(ch, mult * model_channels)]
                ch = mult * model_channels
                if ds in attention_ds:
                    layers.append(attention(ch))
                self.input_blocks.append(StepSequential(*layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(StepSequential(Downsample(ch)))
                skips.append(ch)
                ds *= 2
        self.middle_block = StepSequential(block(ch, ch), attention(ch), block(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [block(ch + skips.pop(), model_channels * mult)]
                ch = model_channels * mult
                if ds in attention_ds:
                    layers.append(attention(ch))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(StepSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(norm_groups, ch), nn.SiLU(),
                                 zero(nn.Conv2d(model_channels, out_channels, 3, padding=1)))

    def forward(self, x: Tensor, steps: Tensor) -> Tensor:
        emb = self.time_embed(timestep_embedding(steps, self.model_channels))
        hs, h = [], x
        for module in self.input_blocks:
            h = module(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


def mel_unet(config: Literal["slim", "paper"] = "slim") -> MelUNet:
    return MelUNet(**CONFIGS[config])
