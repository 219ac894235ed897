"""DDPM: DiffWave forward noise then t ancestral reverse steps, exact gradients (DualPure paper Table 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.steps import add_noise, reverse
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "ddpm")
class DDPM(WaveDiffusionDefense):
    """DDPM (Ho et al. 2020): DiffWave noise to t, then t ancestral reverse steps; exact gradients.

    Eq. 11 of Ho et al. with σ_k = sqrt(β̃_k); AudioPure's purifier in its DDPM form (DualPure Table 1).
    Backpropagates through all t network calls.
    """

    def __init__(self, t: int = 2, config: Literal["slim", "paper"] = "slim", weights: Path | None = None):
        super().__init__(t, config, weights)

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        return reverse(self.net, self.schedule, add_noise(self.schedule, wave, self.t, generator), self.t, generator)
