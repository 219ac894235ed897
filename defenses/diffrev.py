"""DiffRev: DiffWave's reverse process alone, started from the input itself (DualPure paper Fig. 2b)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.steps import reverse
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "diffrev")
class DiffRev(WaveDiffusionDefense):
    """DiffRev: t DiffWave ancestral reverse steps started from the input itself, no forward noise.

    Ho et al. 2020, Eq. 11, from x as if it were x_t: ancestral noise σ_k z at every step but the last
    (DualPure, Tan et al., Interspeech 2024, Fig. 2b; github.com/Sec4ai/DualPure, ``diffwave_ddpm.py``).
    """

    def __init__(self, t: int = 2, config: Literal["slim", "paper"] = "slim", weights: Path | None = None):
        super().__init__(t, config, weights)

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        return reverse(self.net, self.schedule, wave, self.t, generator)
