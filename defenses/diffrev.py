"""DiffRev: DiffWave's reverse process alone, started from the input itself (DualPure paper Fig. 2b)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.gradient_modes import GradientMode, GradientModes
from defenses.diffusion.steps import reverse
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "diffrev")
class DiffRev(WaveDiffusionDefense, GradientModes):
    """DiffRev: t DiffWave ancestral reverse steps started from the input itself, no forward noise.

    Ho et al. 2020, Eq. 11, from x as if it were x_t: ancestral noise σ_k z at every step but the last
    (DualPure, Tan et al., Interspeech 2024, Fig. 2b; github.com/Sec4ai/DualPure, ``diffwave_ddpm.py``).
    t network calls; the surrogate's DDIM steps start from the input too.
    ``grad``: ``exact`` (every activation kept), ``checkpoint`` (the same gradient, each network call
    checkpointed), ``surrogate`` (this output, the gradient of ``surrogate_steps`` DDIM steps; Lee & Kim,
    ICCV 2023); see ``defenses.diffusion.gradient_modes``. Recorded as the result's gradient mode.
    """

    def __init__(self, t: int = 2, config: Literal["slim", "paper"] = "slim", weights: Path | None = None,
                 grad: GradientMode = "exact", surrogate_steps: int | None = None):
        super().__init__(t, config, weights)
        self.set_gradient(grad, surrogate_steps, {"t": t})

    @classmethod
    def network_calls(cls, params: Mapping[str, Any]) -> int:
        return int(params["t"])

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        return self.denoised(wave, self.t, lambda net: reverse(net, self.schedule, wave, self.t, generator))
