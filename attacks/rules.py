"""Update rules: how an attack turns gradient estimates into iterates. They never compute a gradient.

``ascend`` is the one fixed-step loop (PGD, MI-FGSM, TSMI-FGSM are it with different estimators and
directions); APGD's step-size control and FakeBob's plateau schedule drive their own loops from the same
pieces (estimators, ``Momentum``, the norm object's ``step`` and ``project``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from attacks.base import StepCallback
from attacks.gradients import GradientEstimator, Model
from attacks.norms import Norm, per_sample

Direction = Callable[[Tensor], Tensor]


class Momentum:
    """Accumulated ascent direction g ← μ g + (1 − dampening) · v, with v = ∇ / mean|∇| per example when
    ``normalize`` (MI-FGSM, Dong et al. CVPR 2018 Eq. 6: L1 normalisation, no dampening) or v = ∇
    (FakeBob's exponential average: dampening = μ). One instance per attack run: it holds the running g."""

    def __init__(self, decay: float, normalize: bool = True, dampening: float = 0.0):
        self.decay, self.normalize, self.dampening = decay, normalize, dampening
        self.g: Tensor | None = None

    def __call__(self, grad: Tensor) -> Tensor:
        v = grad / per_sample(grad.flatten(1).abs().mean(1).clamp_min(1e-12), grad) if self.normalize else grad
        self.g = (1 - self.dampening) * v if self.g is None else self.decay * self.g + (1 - self.dampening) * v
        return self.g


def ascend(model: Model, x: Tensor, y: Tensor, generator: torch.Generator, start: Tensor,
           estimator: GradientEstimator, norm: Norm, eps: float, step_size: float, steps: int,
           direction: Direction | None = None, on_step: StepCallback | None = None, first_step: int = 1) -> Tensor:
    """``steps`` fixed-size steepest-ascent steps from ``start`` along ``direction(grad)`` (the gradient
    estimate itself when None), each iterate projected onto ``norm``'s ε-ball around ``x`` and the sample range."""
    x_adv = start
    for step in range(first_step, first_step + steps):
        grad, _ = estimator(model, x_adv, y, generator)
        d = direction(grad) if direction is not None else grad
        x_adv = norm.project(x_adv + norm.step(d, step_size), x, eps)
        if on_step is not None:
            on_step(step, x_adv)
    return x_adv
