"""DDPM: DiffWave forward noise then t ancestral reverse steps (DualPure paper Table 1); gradient modes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.gradient_modes import GradientMode, GradientModes
from defenses.diffusion.steps import add_noise, reverse
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "ddpm")
class DDPM(WaveDiffusionDefense, GradientModes):
    """DDPM (Ho et al. 2020): DiffWave noise to t, then t ancestral reverse steps; grad exact|checkpoint|surrogate.

    Eq. 11 of Ho et al. with σ_k = sqrt(β̃_k); AudioPure's purifier in its DDPM form (DualPure Table 1).
    t network calls.
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
        x_t = add_noise(self.schedule, wave, self.t, generator)
        return self.denoised(x_t, self.t, lambda net: reverse(net, self.schedule, x_t, self.t, generator))
