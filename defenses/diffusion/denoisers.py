"""The ε-networks as registry plugins (kind ``denoiser``) and their loading: factory + weights + card.

A denoiser is a network ``(x_t, 0-based step indices) → ε̂`` over one domain (``wave``: (B, 1, T) waveforms;
``mel``: (B, 1, 32, 32) standardised dB mels of the default frontend). A new ε-network is one registration::

    @register("denoiser", "mynet", domain="wave", training_defaults=TrainingDefaults(steps=5000, batch_size=8))
    def mynet(config: Literal["slim", "paper"] = "slim") -> nn.Module: ...

(or ``domain`` and ``training_defaults`` as attributes of the factory); ``bench train mynet`` then exists, with those
defaults. A diffusion defense names the denoiser it uses and loads it here, shipped slim weights by default.
The loaded network is frozen and in eval mode; what was loaded (configuration, weights file hash) goes into
every result through the defense's ``weights_info``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from torch import nn

from bench.errors import CheckpointError
from bench.registry import REGISTRY, register
from bench.weights import file_sha256, load_weights, read_card, shipped_weights
from defenses.diffusion.diffwave import DiffWave
from defenses.diffusion.diffwave import diffwave as build_diffwave
from defenses.diffusion.mel_unet import MelUNet, mel_unet

Config = Literal["slim", "paper"]
Domain = Literal["wave", "mel"]
DOMAINS: tuple[str, ...] = ("wave", "mel")


@dataclass(frozen=True)
class TrainingDefaults:
    """What ``bench train <denoiser>`` uses unless a flag says otherwise (DDPM ε-prediction, Adam, EMA)."""

    steps: int = 20_000  # optimiser steps
    batch_size: int = 16
    lr: float = 2e-4  # Adam
    ema: float = 0.999  # decay of the saved weights' moving average
    crop: int = 16_000  # waveform samples per example (wave domain)
    noise_max: float = 0.0  # > 0: noise-augment each batch before the domain transform


# DiffWave as philsyn/DiffWave-unconditional trains it (Adam 2e-4; Kong et al., ICLR 2021), on 1 s clips.
@register("denoiser", "diffwave", domain="wave",
          training_defaults=TrainingDefaults(steps=20_000, batch_size=16, lr=2e-4))
def diffwave(config: Config = "slim") -> DiffWave:
    """Unconditional DiffWave on 16 kHz waveforms (Kong et al. 2021); `paper` = philsyn's 36×256 checkpoint."""
    return build_diffwave(config)


# The mel U-Net with improved-diffusion's learning rate (1e-4; Nichol & Dhariwal, ICML 2021) and larger
# batches of 32×32 mels.
@register("denoiser", "meldiff", domain="mel",
          training_defaults=TrainingDefaults(steps=10_000, batch_size=64, lr=1e-4))
def meldiff(config: Config = "slim") -> MelUNet:
    """improved-diffusion U-Net on standardised 32×32 dB mels (AudioPure's DiffSpec, DualPure's FDP)."""
    return mel_unet(config)


def denoiser_domain(name: str) -> str:
    """The domain denoiser ``name`` registered (``wave`` or ``mel``); a missing or unknown one is one line."""
    domain = REGISTRY.get("denoiser", name).meta("domain")
    if domain not in DOMAINS:
        raise CheckpointError(f"denoiser {name!r} declares no domain ({domain!r}); register it with "
                              f"domain= one of {', '.join(DOMAINS)}")
    return domain


def training_defaults(name: str) -> TrainingDefaults:
    """Denoiser ``name``'s training defaults (``TrainingDefaults()`` when it registered none)."""
    return REGISTRY.get("denoiser", name).meta("training_defaults") or TrainingDefaults()


def trainable_denoisers() -> list[str]:
    """The denoisers ``bench train`` can train: every registered one that declares its domain."""
    return [p.name for p in REGISTRY.plugins("denoiser") if p.meta("domain") in DOMAINS]


@dataclass
class Denoiser:
    name: str
    config: str
    net: nn.Module
    weights: Path
    sha256: str
    card: dict[str, Any]

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.config, "sha256": self.sha256}


def load_denoiser(name: str, config: str = "slim", weights: str | Path | None = None) -> Denoiser:
    """Build denoiser ``name`` in ``config`` and load ``weights`` (default: the shipped file), frozen."""
    plugin = REGISTRY.get("denoiser", name)
    net = plugin.factory(config=config)
    path = Path(weights).expanduser() if weights else shipped_weights("denoiser", name, config)
    if path is None:
        how = f"`bench train {name} --config {config}`" if name in trainable_denoisers() else "a training run"
        raise CheckpointError(f"denoiser {name!r} ({config}) has no shipped weights; train them with {how} "
                              "(or convert published ones with `bench convert`) and pass -o weights=PATH")
    load_weights(net, path)
    net.eval().requires_grad_(False)
    return Denoiser(name, config, net, path, file_sha256(path), read_card(path))
