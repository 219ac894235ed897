"""PGD: projected gradient ascent on the cross-entropy, L∞ or L2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attacks.base import DEFAULT_EPS, STEPS, Attack, Norm, StepCallback, project, random_start
from attacks.gradients import EOT, Autograd, GradientEstimator
from bench.errors import BadParameter
from bench.registry import register


@register("attack", "pgd")
class PGD(Attack):
    """Projected gradient descent (Madry et al., ICLR 2018), L∞ or L2, with optional EOT gradients.

    As AudioPure/DualPure run it (released_code_spec §6.1): untargeted cross-entropy ascent, no random
    start by default, step ε/5 (L∞, sign step) or ε/2 (L2, normalised step), each iterate projected onto the
    ε-ball and [-1, 1]. Defaults ε = 0.002 (L∞) and 0.253 (L2). ``eot`` > 1 averages each gradient over that
    many fresh draws of the defense's randomness, ``eot_batch`` copies at a time.
    """

    def __init__(self, norm: Norm = "linf", eps: float | None = None, steps: int = 10, step_size: float | None = None,
                 random_start: bool = False, eot: int = 1, eot_batch: int | None = None):
        if norm not in STEPS:
            raise BadParameter(f"pgd: norm must be linf or l2, got {norm!r}")
        self.norm = norm
        self.eps = float(DEFAULT_EPS[norm] if eps is None else eps)
        if self.eps <= 0 or steps < 0 or eot < 1 or (eot_batch is not None and eot_batch < 1):
            raise BadParameter("pgd: needs eps > 0, steps >= 0, eot >= 1 and eot_batch >= 1")
        self.steps = steps
        self.step_size = float(step_size if step_size is not None else self.eps / (5 if norm == "linf" else 2))
        self.random_start = random_start
        self.eot, self.eot_batch = eot, eot_batch
        self.gradient: GradientEstimator = Autograd() if eot == 1 else EOT(Autograd(), eot, eot_batch)

    def params(self) -> dict[str, Any]:
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "step_size": self.step_size,
                "random_start": self.random_start, "eot": self.eot, "eot_batch": self.eot_batch}

    @property
    def gradient_mode(self) -> str:
        return self.gradient.mode

    def label(self) -> str:
        norm = "L∞" if self.norm == "linf" else "L2"
        extra = (f" EOT-{self.eot}" if self.eot > 1 else "") + (" rand" if self.random_start else "")
        return f"PGD-{self.steps} {norm} ε={self.eps:g}{extra}"

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        x_adv = random_start(x, self.eps, self.norm, generator) if self.random_start else x.clone()
        step_rule = STEPS[self.norm]
        for step in range(1, self.steps + 1):
            grad, _ = self.gradient(model, x_adv, y, generator)
            x_adv = project(x_adv + step_rule(grad, self.step_size), x, self.eps, self.norm)
            if on_step is not None:
                on_step(step, x_adv)
        return x_adv
