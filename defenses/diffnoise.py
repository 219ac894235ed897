"""DiffNoise: DiffWave's forward diffusion alone, no denoising (DualPure paper §4.1, Fig. 2b, Table 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.steps import add_noise
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "diffnoise")
class DiffNoise(WaveDiffusionDefense):
    """DiffNoise: DiffWave's forward noise only, sqrt(ᾱ_t) x + sqrt(1 − ᾱ_t) z (DualPure Eq. 3); no network.

    The same operation as DualPure's time-domain purifier, without the mel purifier; needs no network.
    """

    uses_network = False

    def __init__(self, t: int = 2):
        super().__init__(t)

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        return add_noise(self.schedule, wave, self.t, generator)
