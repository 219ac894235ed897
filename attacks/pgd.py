"""PGD: projected gradient ascent on the cross-entropy, L∞ or L2, with EOT gradients and restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, Norm, StepCallback, checked_budget
from attacks.gradients import EOT, Autograd, GradientEstimator
from attacks.restarts import RestartRule, check_restarts, restarted
from attacks.rules import ascend
from bench.errors import BadParameter
from bench.registry import register


@register("attack", "pgd")
class PGD(Attack):
    """Projected gradient descent (Madry et al., ICLR 2018), L∞ or L2, with optional EOT gradients.

    "Towards Deep Learning Models Resistant to Adversarial Attacks", Eq. 2: x ← Π(x + α · step(∇ L)).
    As AudioPure/DualPure run it (released_code_spec §6.1): untargeted cross-entropy ascent, no random
    start by default, step ε/5 (L∞, sign step) or ε/2 (L2, normalised step), each iterate projected onto the
    ε-ball and [-1, 1]. Defaults ε = 0.002 (L∞) and 0.253 (L2). ``eot`` > 1 averages each gradient over that
    many fresh draws of the defense's randomness, ``eot_batch`` copies at a time.

    ``restarts`` > 1 runs the attack that many times (every run after the first from a random start) and
    keeps, per example, the run ``restart_by`` rates best over ``restart_draws`` fresh draws: the highest
    mean loss, or the most misclassifying draws; never one noisy prediction.
    """

    def __init__(self, norm: Norm = "linf", eps: float | None = None, steps: int = 10, step_size: float | None = None,
                 random_start: bool = False, eot: int = 1, eot_batch: int | None = None, restarts: int = 1,
                 restart_by: RestartRule = "loss", restart_draws: int = 10):
        self.norm, self.eps = checked_budget("pgd", norm, eps, self.default_eps)
        if steps < 0 or eot < 1 or (eot_batch is not None and eot_batch < 1):
            raise BadParameter("pgd: needs eps > 0, steps >= 0, eot >= 1 and eot_batch >= 1")
        check_restarts("pgd", restarts, restart_by, restart_draws)
        self.steps = steps
        self.step_size = float(step_size if step_size is not None else self.eps / (5 if norm == "linf" else 2))
        self.random_start = random_start
        self.eot, self.eot_batch = eot, eot_batch
        self.restarts, self.restart_by, self.restart_draws = restarts, restart_by, restart_draws
        self.gradient: GradientEstimator = Autograd() if eot == 1 else EOT(Autograd(), eot, eot_batch)

    def params(self) -> dict[str, Any]:
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "step_size": self.step_size,
                "random_start": self.random_start, "eot": self.eot, "eot_batch": self.eot_batch,
                "restarts": self.restarts, "restart_by": self.restart_by, "restart_draws": self.restart_draws}

    @property
    def gradient_mode(self) -> str:
        return self.gradient.mode

    @property
    def prefix_consistent(self) -> bool:
        # The step size is ε/5 (ε/2) whatever the step count and the last iterate is returned, so PGD-k is
        # the first k steps of PGD-K; restarts would pick among whole runs, which breaks that.
        return self.restarts == 1

    def label(self) -> str:
        norm = "L∞" if self.norm == "linf" else "L2"
        extra = (f" EOT-{self.eot}" if self.eot > 1 else "") + (" rand" if self.random_start else "")
        extra += f" R{self.restarts}-{self.restart_by}" if self.restarts > 1 else ""
        return f"PGD-{self.steps} {norm} ε={self.eps:g}{extra}"

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        run = lambda start, r: ascend(model, x, y, generator, start, self.gradient, self.norm, self.eps,  # noqa: E731
                                      self.step_size, self.steps, on_step=on_step, first_step=r * self.steps + 1)
        return restarted(model, x, y, generator, run, self.restarts, self.random_start, self.eps, self.norm,
                         self.restart_by, self.restart_draws)
