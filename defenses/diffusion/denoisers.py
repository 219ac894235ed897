"""The ε-networks as registry plugins (kind ``denoiser``) and their loading: factory + weights + card.

A denoiser is a network ``(x_t, 0-based step indices) → ε̂`` over one domain (``wave`` or ``mel``); a
diffusion defense names the one it uses and loads it here, shipped slim weights by default. The loaded
network is frozen and in eval mode; what was loaded (configuration, weights file hash) goes into every
result through the defense's ``weights_info``.
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
TRAIN_COMMAND = {"diffwave": "bench train diffwave", "meldiff": "bench train meldiff"}


@register("denoiser", "diffwave")
def diffwave(config: Config = "slim") -> DiffWave:
    """Unconditional DiffWave on 16 kHz waveforms (Kong et al. 2021); `paper` = philsyn's 36×256 checkpoint."""
    return build_diffwave(config)


@register("denoiser", "meldiff")
def meldiff(config: Config = "slim") -> MelUNet:
    """improved-diffusion U-Net on standardised 32×32 dB mels (AudioPure's DiffSpec, DualPure's FDP)."""
    return mel_unet(config)


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
        command = TRAIN_COMMAND.get(name, f"a {name} training run")
        raise CheckpointError(f"denoiser {name!r} ({config}) has no shipped weights; train them with "
                              f"`{command} --config {config}` (or convert published ones with `bench convert`) "
                              "and pass -o weights=PATH")
    load_weights(net, path)
    net.eval().requires_grad_(False)
    return Denoiser(name, config, net, path, file_sha256(path), read_card(path))

