"""One-shot: DiffWave forward noise, then one network call's x0 estimate (DualPure paper Table 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.gradient_modes import GradientMode, GradientModes
from defenses.diffusion.steps import add_noise, one_shot
from defenses.diffusion.wave_defense import WaveDiffusionDefense


@register("defense", "oneshot")
class OneShot(WaveDiffusionDefense, GradientModes):
    """One-shot (Carlini et al., ICLR 2023): DiffWave noise to t, then x̂0 from a single network call.

    x̂0 = (x_t − sqrt(1 − ᾱ_t) ε_θ(x_t, t−1)) / sqrt(ᾱ_t) ("(Certified!!) Adversarial Robustness for Free!";
    Carlini et al., ICLR 2023). One network call, so its only surrogate is K = 0: the denoiser's gradient
    taken as the identity (BPDA, Athalye et al., ICML 2018).
    ``grad``: ``exact`` (every activation kept), ``checkpoint`` (the same gradient, each network call
    checkpointed), ``surrogate`` (this output, the gradient of ``surrogate_steps`` DDIM steps; Lee & Kim,
    ICCV 2023); see ``defenses.diffusion.gradient_modes``. Recorded as the result's gradient mode.
    """

    def __init__(self, t: int = 2, config: Literal["slim", "paper"] = "slim", weights: Path | None = None,
                 grad: GradientMode = "exact", surrogate_steps: int | None = None):
        super().__init__(t, config, weights)
        self.set_gradient(grad, surrogate_steps, {"t": t})

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        x_t = add_noise(self.schedule, wave, self.t, generator)
        return self.denoised(x_t, self.t, lambda net: one_shot(net, self.schedule, x_t, self.t))
