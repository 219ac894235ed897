"""One-shot: DiffWave forward noise, then one network call's x0 estimate (DualPure paper Table 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.steps import add_noise, one_shot
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "oneshot")
class OneShot(WaveDiffusionDefense):
    """One-shot (Carlini et al., ICLR 2023): DiffWave noise to t, then x̂0 from a single network call.

    x̂0 = (x_t − sqrt(1 − ᾱ_t) ε_θ(x_t, t−1)) / sqrt(ᾱ_t) ("(Certified!!) Adversarial Robustness for Free!";
    Carlini et al., ICLR 2023).
    """

    def __init__(self, t: int = 2, config: Literal["slim", "paper"] = "slim", weights: Path | None = None):
        super().__init__(t, config, weights)

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        return one_shot(self.net, self.schedule, add_noise(self.schedule, wave, self.t, generator), self.t)
