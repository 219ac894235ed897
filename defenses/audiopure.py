"""AudioPure: DiffWave forward noise to n*, then n* Euler–Maruyama steps of the reverse VP-SDE."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.gradient_modes import GradientModes
from defenses.diffusion.steps import add_noise, reverse_sde
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "audiopure")
class AudioPure(WaveDiffusionDefense, GradientModes):
    """AudioPure (Wu et al., ICLR 2023): noise to n*, n* reverse-SDE steps; grad exact|adjoint|checkpoint|surrogate.

    "Defending against Adversarial Audio via Diffusion Model", Eq. 5–6: sdeint of the reverse VP-SDE over n*
    steps with torchsde, as the released code integrates it (github.com/cychomatica/AudioPure,
``diffusion_models/diffwave_sde.py``; default n* = 3).

    ``grad``: ``exact`` backpropagates through the solver and every DiffWave call; ``adjoint`` uses
    torchsde's adjoint with the network's Jacobian dropped, the gradient the released code gives an attacker
    (DualPure Fig. 2a); ``checkpoint`` is ``exact`` with each drift's network call checkpointed (Chen et al.,
    arXiv:1604.06174); ``surrogate`` keeps this output and takes the gradient of ``surrogate_steps`` DDIM
    steps from the same noised input (Lee & Kim, ICCV 2023); see ``defenses.diffusion.gradient_modes``. The
    mode is recorded as the result's gradient mode.
    """

    spec_defaults: ClassVar[dict[str, Any]] = {"surrogate_steps": None}  # ``grad`` has always been recorded

    def __init__(self, t: int = 3, grad: Literal["exact", "adjoint", "checkpoint", "surrogate"] = "exact",
                 config: Literal["slim", "paper"] = "slim", weights: Path | None = None,
                 surrogate_steps: int | None = None):
        super().__init__(t, config, weights)
        self.set_gradient(grad, surrogate_steps, {"t": t})

    @classmethod
    def network_calls(cls, params: Mapping[str, Any]) -> int:
        return int(params["t"])

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        noisy = add_noise(self.schedule, wave, self.t, generator)
        solver = "adjoint" if self.grad == "adjoint" else "exact"
        return self.denoised(noisy, self.t, lambda net: reverse_sde(net, self.schedule, noisy, self.t, generator,
                                                                     solver))
