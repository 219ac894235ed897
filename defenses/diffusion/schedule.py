"""The noise schedule: the only place where β, ᾱ and the posterior variance are computed.

DiffWave's (and DualPure's mel U-Net's) discrete schedule (github.com/cychomatica/AudioPure): T = 200,
β_n = linspace(1e-4, 0.02, 200), α_n = 1 − β_n, ᾱ_n = ∏_{k≤n} α_k, β̃_n = β_n (1 − ᾱ_{n−1}) / (1 − ᾱ_n).

Convention: ``t`` counts noise steps, 1 ≤ t ≤ T (DualPure's t_w and t_s, AudioPure's n*); the ε-networks
are called with the 0-based index ``t − 1``, as the released code does. Every function broadcasts over
any sample shape, so waveforms (B, 1, 16000) and mel images (B, 1, 32, 32) share it (diffusers'
``add_noise`` rule). The ε-networks never see this module.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

T_DEFAULT = 200
BETA_START, BETA_END = 1e-4, 0.02


class NoiseSchedule(nn.Module):
    """β, ᾱ and σ as float64 buffers (moved with the owning module); every method returns the input dtype."""

    betas: Tensor
    alphas_cumprod: Tensor
    posterior_variance: Tensor

    def __init__(self, betas: Tensor):
        super().__init__()
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) == 0 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a non-empty 1-D sequence in (0, 1)")
        alphas_cumprod = torch.cumprod(1.0 - betas, 0)
        previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        posterior = betas * (1.0 - previous) / (1.0 - alphas_cumprod)
        posterior[0] = betas[0]  # β̃_1 = β_1, as the released code sets it (only used where σ is not zeroed)
        self.register_buffer("betas", betas, persistent=False)
        self.register_buffer("alphas_cumprod", alphas_cumprod, persistent=False)
        self.register_buffer("posterior_variance", posterior, persistent=False)

    @classmethod
    def linear(cls, steps: int = T_DEFAULT, beta_start: float = BETA_START, beta_end: float = BETA_END) -> NoiseSchedule:
        return cls(torch.linspace(beta_start, beta_end, steps, dtype=torch.float64))

    @property
    def steps(self) -> int:
        return len(self.betas)

    def check(self, t: int) -> None:
        if not 1 <= t <= self.steps:
            raise ValueError(f"diffusion step t={t} outside 1..{self.steps}")

    def _at(self, values: Tensor, t: int, like: Tensor) -> Tensor:
        self.check(t)
        return values[t - 1].to(like.dtype)

    def noise_std(self, t: int) -> float:
        """sqrt(1 − ᾱ_t): the std of the Gaussian noise ``q_sample`` adds (0.0100 at t = 1, 0.0741 at t = 10)."""
        self.check(t)
        return float((1.0 - self.alphas_cumprod[t - 1]).sqrt())

    def q_sample(self, x0: Tensor, t: int, noise: Tensor) -> Tensor:
        """x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) z (DDPM Eq. 4; DualPure Eq. 3)."""
        ab = self._at(self.alphas_cumprod, t, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def predict_x0(self, x_t: Tensor, t: int, eps: Tensor) -> Tensor:
        """x̂0 = (x_t − sqrt(1 − ᾱ_t) ε) / sqrt(ᾱ_t): the one-shot estimate (Carlini et al. 2023)."""
        ab = self._at(self.alphas_cumprod, t, x_t)
        return (x_t - (1.0 - ab).sqrt() * eps) / ab.sqrt()

    def p_step(self, x_t: Tensor, t: int, eps: Tensor, noise: Tensor | None) -> Tensor:
        """One ancestral step t → t−1 (DDPM Eq. 11): (x_t − β_t/sqrt(1 − ᾱ_t) ε)/sqrt(α_t) + σ_t z,
        with σ_t = sqrt(β̃_t) and no noise at the last step (t = 1) or when ``noise`` is None."""
        beta = self._at(self.betas, t, x_t)
        ab = self._at(self.alphas_cumprod, t, x_t)
        mean = (x_t - beta / (1.0 - ab).sqrt() * eps) / (1.0 - beta).sqrt()
        if t == 1 or noise is None:
            return mean
        return mean + self._at(self.posterior_variance, t, x_t).sqrt() * noise

    def sde_drift(self, x: Tensor, t: int, eps: Tensor) -> Tensor:
        """Per-step drift of AudioPure's reverse VP-SDE (Wu et al., ICLR 2023) in discrete units:
        ½β_t x − β_t ε / sqrt(1 − ᾱ_t), i.e. −f_rev·dt with the score −ε/sqrt(1 − ᾱ_t)."""
        beta = self._at(self.betas, t, x)
        ab = self._at(self.alphas_cumprod, t, x)
        return 0.5 * beta * x - beta / (1.0 - ab).sqrt() * eps

    def sde_diffusion(self, t: int) -> float:
        """Per-step noise scale of the reverse SDE: sqrt(β̃_t), forced to 0 at the last step (t = 1)."""
        self.check(t)
        return 0.0 if t == 1 else float(self.posterior_variance[t - 1].sqrt())
