"""AudioPure: DiffWave forward noise to n*, then n* Euler–Maruyama steps of the reverse VP-SDE."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.steps import add_noise, reverse_sde
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "audiopure")
class AudioPure(WaveDiffusionDefense):
    """AudioPure (Wu et al., ICLR 2023): DiffWave noise to n*, then n* reverse-SDE Euler steps; grad exact|adjoint.

    "Defending against Adversarial Audio via Diffusion Model", Eq. 5–6: sdeint of the reverse VP-SDE over n*
    steps with torchsde, as the released code integrates it (github.com/cychomatica/AudioPure,
``diffusion_models/diffwave_sde.py``; default n* = 3).

    ``grad``: ``exact`` backpropagates through the solver and every DiffWave call; ``adjoint`` uses
    torchsde's adjoint with the network's Jacobian dropped, the gradient the released code gives an attacker
    (DualPure Fig. 2a). The mode is recorded as the result's gradient mode.
    """

    def __init__(self, t: int = 3, grad: Literal["exact", "adjoint"] = "exact",
                 config: Literal["slim", "paper"] = "slim", weights: Path | None = None):
        super().__init__(t, config, weights)
        self.grad = grad
        self.gradient_mode = grad

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        noisy = add_noise(self.schedule, wave, self.t, generator)
        return reverse_sde(self.net, self.schedule, noisy, self.t, generator, self.grad)
