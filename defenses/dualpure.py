"""DualPure: time-domain noise, then a one-shot mel-spectrogram diffusion purifier (the paper's method)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from bench.registry import register
from defenses.diffusion.denoisers import load_denoiser
from defenses.diffusion.gradient_modes import GradientMode, GradientModes
from defenses.diffusion.mel import standardize, unstandardize
from defenses.diffusion.schedule import NoiseSchedule
from defenses.diffusion.steps import add_noise, one_shot
from defenses.diffusion.wave_defense import checked_step


@register("defense", "dualpure")
class DualPure(GradientModes):
    """DualPure (Tan et al., Interspeech 2024): wave noise at t_w, then one mel U-Net x0 step at t_s.

    "DualPure: An Efficient Adversarial Purification Method for Speech Command Recognition", Eq. 1–4 and
    Alg. 1, as the released code runs it (github.com/Sec4ai/DualPure, ``diffwave_ddpm.py`` and
``acoustic_system.py``):

    TDP: x' = sqrt(ᾱ_{t_w}) x + sqrt(1 − ᾱ_{t_w}) z (Eq. 3, DiffWave's schedule); Wave2Mel(x');
    FDP: standardise the dB mel to [−1, 1], one mel U-Net call at step t_s (no added mel noise),
    x̂0 = (m − sqrt(1 − ᾱ_{t_s}) ε)/sqrt(ᾱ_{t_s}) clamped to [−1, 1], back to dB. At t_s = 1 this is exactly
    the released ``p_sample`` at index 0 (Eq. 4 with σ_1 z = 0); for t_s > 1 it is the paper's "one-shot
    denoise" at that step. Differentiable end to end.

    ``grad``: ``exact``; ``checkpoint`` (the mel U-Net call checkpointed: the same gradient, Chen et al.,
    arXiv:1604.06174); ``surrogate`` with its only K = 0, the mel denoiser's gradient taken as the identity
    (BPDA, Athalye et al., ICML 2018; Lee & Kim, ICCV 2023); see ``defenses.diffusion.gradient_modes``.
    """

    stochastic = True
    per_clip_draws = True

    def __init__(self, t_w: int = 2, t_s: int = 1, config: Literal["slim", "paper"] = "slim",
                 weights: Path | None = None, grad: GradientMode = "exact", surrogate_steps: int | None = None):
        super().__init__()
        self.schedule = NoiseSchedule.linear()
        self.t_w = checked_step("t_w", t_w, self.schedule)
        self.t_s = checked_step("t_s", t_s, self.schedule)
        self.denoiser = load_denoiser("meldiff", config, weights)
        self.net = self.denoiser.net
        self.set_gradient(grad, surrogate_steps, {})

    def weights_info(self) -> dict[str, Any]:
        return {"mel": self.denoiser.info()}

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return add_noise(self.schedule, wave, self.t_w, generator).clamp(-1.0, 1.0)

    def purify_mel(self, mel: Tensor, generator: torch.Generator | None = None) -> Tensor:
        m = standardize(mel)
        return unstandardize(self.denoised(m, self.t_s, lambda net: one_shot(net, self.schedule, m, self.t_s)
                                           .clamp(-1.0, 1.0)))
