"""The shared steps every diffusion defense is a recipe of: add noise, reverse steps, one-shot x0, reverse SDE,
and two that gradient modes use: deterministic DDIM steps (a surrogate purifier) and a checkpointed ε-network.

Each step takes the ε-network, the schedule and a ``torch.Generator`` for its draws; none of them blocks
gradients, so an attack backpropagates through every network call (unless a gradient mode says otherwise).
Every draw happens outside the network calls, so a network call is a deterministic function of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Literal

import torch
import torchsde
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from bench.row_draws import RowGenerators, randn
from defenses.diffusion.schedule import NoiseSchedule

EpsNet = Callable[[Tensor, Tensor], Tensor]  # (x_t, 0-based step indices (B,)) → ε̂


def gaussian(like: Tensor, generator: torch.Generator | RowGenerators | None) -> Tensor:
    return randn(like.shape, generator, like.dtype, like.device)


def _index(x: Tensor, t: int) -> Tensor:
    return torch.full((x.shape[0],), t - 1, device=x.device, dtype=torch.long)


def add_noise(schedule: NoiseSchedule, x: Tensor, t: int, generator: torch.Generator | None) -> Tensor:
    """Forward diffusion to step t in one draw: sqrt(ᾱ_t) x + sqrt(1 − ᾱ_t) z."""
    return schedule.q_sample(x, t, gaussian(x, generator))


def reverse(net: EpsNet, schedule: NoiseSchedule, x_t: Tensor, t: int, generator: torch.Generator | None) -> Tensor:
    """t ancestral DDPM steps t → 0 (one network call each; σ_k = sqrt(β̃_k), no noise at the last step)."""
    x = x_t
    for k in range(t, 0, -1):
        x = schedule.p_step(x, k, net(x, _index(x, k)), gaussian(x, generator) if k > 1 else None)
    return x


def one_shot(net: EpsNet, schedule: NoiseSchedule, x_t: Tensor, t: int) -> Tensor:
    """x̂0 from one network call at step t (Carlini et al., ICLR 2023, Eq. 2 of their denoiser)."""
    return schedule.predict_x0(x_t, t, net(x_t, _index(x_t, t)))


def ddim(net: EpsNet, schedule: NoiseSchedule, x_t: Tensor, t: int, steps: int) -> Tensor:
    """``steps`` deterministic DDIM steps t → 0 on the evenly spaced grid ⌊t·(K − i)/K⌋, i = 0..K (Song et al.,
    ICLR 2021, Eq. 12 with σ = 0): x̂0 from ε̂, then x_m = sqrt(ᾱ_m) x̂0 + sqrt(1 − ᾱ_m) ε̂ at the next grid step m.

    K network calls; K = 1 is ``one_shot``, K = 0 returns x_t itself (the identity denoiser of BPDA). The
    surrogate purifier of Lee & Kim (ICCV 2023): fewer, larger reverse steps than the defense runs.
    """
    if not 0 <= steps <= t:
        raise ValueError(f"ddim: {steps} steps from t={t}; need 0 <= steps <= t")
    grid = [t * (steps - i) // steps for i in range(steps + 1)] if steps else [t]
    x = x_t
    for n, m in pairwise(grid):
        eps = net(x, _index(x, n))
        x0 = schedule.predict_x0(x, n, eps)
        x = schedule.q_sample(x0, m, eps) if m > 0 else x0
    return x


def checkpointed(net: EpsNet) -> EpsNet:
    """``net`` with activation checkpointing (Chen et al., "Training Deep Nets with Sublinear Memory Cost",
    arXiv:1604.06174): a call keeps only its inputs for backward and recomputes its activations there, as
    DiffAttack (Kang et al., NeurIPS 2023) and MEFA do for full gradients through every reverse step.

    Exact, because every draw is made outside the call: the recomputation sees the same inputs and weights.
    """

    def call(x: Tensor, steps: Tensor) -> Tensor:
        return checkpoint(net, x, steps, use_reentrant=False)

    return call


class _GridBrownian(torchsde.BrownianInterval.__mro__[1]):  # torchsde's BaseBrownian
    """Brownian increments on the integer grid 0..t, drawn up front from a ``torch.Generator`` so the reverse
    SDE's randomness is seeded like every other draw; the adjoint pass re-reads the same increments."""

    def __init__(self, increments: Tensor):
        self._increments = increments  # (t, B, D), standard normal: W(k+1) − W(k) with unit steps

    def __call__(self, ta, tb=None, return_U=False, return_A=False):  # noqa: ANN001 - torchsde's signature
        ta, tb = float(ta), float(tb)
        sign = 1.0
        if tb < ta:
            ta, tb, sign = tb, ta, -1.0
        k = int(round(ta))
        if abs(ta - k) > 1e-6 or abs(tb - ta - 1.0) > 1e-6 or not 0 <= k < len(self._increments):
            raise ValueError(f"grid Brownian motion queried off its unit grid: [{ta}, {tb}]")
        return sign * self._increments[k]

    def __repr__(self) -> str:
        return f"_GridBrownian(steps={len(self._increments)})"

    @property
    def dtype(self) -> torch.dtype:
        return self._increments.dtype

    @property
    def device(self) -> torch.device:
        return self._increments.device

    @property
    def shape(self) -> torch.Size:
        return self._increments.shape[1:]

    @property
    def levy_area_approximation(self) -> str:
        return "none"


class _ReverseVPSDE(nn.Module):
    """AudioPure's reverse VP-SDE (Wu et al., ICLR 2023) in step units: time s = 0..t, one Euler step per
    unit, drift ½β_n x − β_n ε/sqrt(1 − ᾱ_n), diffusion sqrt(β̃_n) (0 at the last step), with n = t − s."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, net: EpsNet, schedule: NoiseSchedule, t: int, shape: torch.Size, drop_jacobian: bool):
        super().__init__()
        self.net, self.schedule, self.t, self.shape, self.drop_jacobian = net, schedule, t, shape, drop_jacobian

    def _step(self, s: Tensor) -> int:
        # Step n covers s ∈ [t − n, t − n + 1). The adjoint pass evaluates the drift at the right end of each
        # step (torchsde's reversed Euler), one step lower; the clamp keeps its last evaluation at n = 1.
        return min(self.t, max(1, self.t - int(float(s) + 1e-6)))

    def f(self, s: Tensor, y: Tensor) -> Tensor:
        n = self._step(s)
        x = y.view(self.shape)
        if self.drop_jacobian:  # as the released code: ε under no_grad, so dε/dx never reaches the adjoint
            with torch.no_grad():
                eps = self.net(x, _index(x, n))
        else:
            eps = self.net(x, _index(x, n))
        return self.schedule.sde_drift(x, n, eps).flatten(1)

    def g(self, s: Tensor, y: Tensor) -> Tensor:
        return torch.full_like(y, self.schedule.sde_diffusion(self._step(s)))


def reverse_sde(net: EpsNet, schedule: NoiseSchedule, x_t: Tensor, t: int, generator: torch.Generator | None,
                grad: Literal["exact", "adjoint"] = "exact") -> Tensor:
    """t Euler–Maruyama steps of the reverse VP-SDE with torchsde, as AudioPure integrates it.

    ``exact`` backpropagates through the solver and every network call; ``adjoint`` integrates the adjoint
    SDE with the network's Jacobian dropped, the released AudioPure gradient (DualPure Fig. 2a). Both give
    the same forward output for the same generator.
    """
    if t == 0:
        return x_t
    schedule.check(t)
    y0 = x_t.flatten(1)
    bm = _GridBrownian(randn((t, *y0.shape), generator, x_t.dtype, x_t.device, row_dim=1))
    sde = _ReverseVPSDE(net, schedule, t, x_t.shape, drop_jacobian=grad == "adjoint")
    ts = torch.tensor([0.0, float(t)], device=x_t.device, dtype=x_t.dtype)
    if grad == "adjoint":
        ys = torchsde.sdeint_adjoint(sde, y0, ts, bm=bm, method="euler", adjoint_method="euler", dt=1.0,
                                     adjoint_params=())
    elif grad == "exact":
        ys = torchsde.sdeint(sde, y0, ts, bm=bm, method="euler", dt=1.0)
    else:
        raise ValueError(f"unknown gradient mode {grad!r}; use exact or adjoint")
    return ys[-1].view(x_t.shape)
