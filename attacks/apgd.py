"""Auto-PGD: PGD with momentum and a step size that halves at scheduled checks when progress stalls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from attacks.base import Attack, StepCallback
from attacks.estimators import choose_gradient
from attacks.gradients import GradientEstimator
from attacks.losses import LOSSES
from attacks.restarts import RestartRule, check_restarts, restarted
from bench.errors import BadParameter
from bench.registry import register


def step_size_checks(steps: int) -> list[int]:
    """Iterations after which APGD checks its step size: p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1}
    − 0.03, 0.06), as fractions of ``steps`` (Croce & Hein, ICML 2020, §3.2; the integer version of
    github.com/fra31/auto-attack, autoattack/autopgd_base.py)."""
    first, least, shrink = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    points, at, length = [], 0, first
    while at + length <= steps:
        at += length
        points.append(at)
        length = max(length - shrink, least)
    return points


@register("attack", "apgd")
class APGD(Attack):
    """Auto-PGD (Croce & Hein, ICML 2020) with CE or DLR loss, EOT or any estimator, any norm; keeps the best iterate.

    "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks",
    Alg. 1: z = Π(x_k + η ∇), x_{k+1} = Π(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1})) with α = 0.75 (1 at the
    first step); η starts at 2ε and halves at each check (``step_size_checks``) where fewer than ρ of the
    steps since the last one raised the loss (condition 1) or where η did not change and the best loss did
    not improve (condition 2), restarting from the best point. Loss ``ce`` or ``dlr`` (Eq. 6); ``eot`` > 1
    averages gradient and loss over fresh draws (AutoAttack's ``rand`` version uses 20); ``gradient`` names
    any registered estimator instead, driven by the same loss.

    Each run returns the iterate with the highest (EOT-averaged) loss, not the first one a single noisy
    prediction called adversarial; ``restarts`` are chosen the same way (see ``pgd``). ``fixed_randomness``
    as ``pgd``'s.
    """

    def __init__(self, norm: str = "linf", eps: float | None = None, steps: int = 100,
                 loss: Literal["ce", "dlr"] = "ce", eot: int = 1, eot_batch: int | None = None, rho: float = 0.75,
                 random_start: bool = True, restarts: int = 1, restart_by: RestartRule = "loss",
                 restart_draws: int = 10, gradient: str | None = None, fixed_randomness: bool = False):
        self.set_budget("apgd", norm, eps)
        if steps < 1 or eot < 1 or (eot_batch is not None and eot_batch < 1) or not 0 < rho <= 1:
            raise BadParameter("apgd: needs steps >= 1, eot >= 1, eot_batch >= 1 and 0 < rho <= 1")
        if loss not in LOSSES:
            raise BadParameter(f"apgd: loss must be ce or dlr, got {loss!r}")
        check_restarts("apgd", restarts, restart_by, restart_draws)
        self.steps, self.loss, self.rho = steps, loss, rho
        self.random_start = random_start
        self.restarts, self.restart_by, self.restart_draws = restarts, restart_by, restart_draws
        self.gradient_choice = choose_gradient("apgd", gradient, eot, eot_batch, LOSSES[loss])
        self.eot, self.eot_batch = self.gradient_choice.eot, self.gradient_choice.eot_batch
        self.estimator: GradientEstimator = self.gradient_choice.estimator
        self.set_fixed_randomness("apgd", fixed_randomness)

    def params(self) -> dict[str, Any]:
        # ``gradient`` only when eot/eot_batch do not say it all, so older records keep their cell ids
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "loss": self.loss, "eot": self.eot,
                "eot_batch": self.eot_batch, "rho": self.rho, "random_start": self.random_start,
                "restarts": self.restarts, "restart_by": self.restart_by, "restart_draws": self.restart_draws,
                **({"gradient": self.gradient_choice.text} if self.gradient_choice.text else {}),
                **self.fixed_params()}

    def label(self) -> str:
        extra = self.gradient_choice.label + (f" R{self.restarts}" if self.restarts > 1 else "")
        extra += " fixed-draw" if self.fixed_randomness else ""
        return f"APGD-{self.loss.upper()}-{self.steps} {self.geometry.label} ε={self.eps:g}{extra}"

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        run = lambda start, r: self._run(model, x, y, generator, start, on_step, r * self.steps)  # noqa: E731
        return restarted(model, x, y, generator, run, self.restarts, self.random_start, self.eps, self.geometry,
                         self.restart_by, self.restart_draws)

    def _run(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator, x_adv: Tensor,
             on_step: StepCallback | None, offset: int) -> Tensor:
        norm = self.geometry
        eta = torch.full((x.shape[0],), 2.0 * self.eps, device=x.device, dtype=x.dtype)
        grad, loss = self.estimator(model, x_adv, y, generator)
        x_best, loss_best, grad_best = x_adv.clone(), loss.clone(), grad.clone()
        losses = [loss]
        x_prev = x_adv
        checks = set(step_size_checks(self.steps))
        last_check, best_at_last_check = 0, loss_best.clone()
        reduced_last = torch.ones_like(loss, dtype=torch.bool)
        for i in range(self.steps):
            alpha = 0.75 if i > 0 else 1.0
            z = norm.project(x_adv + norm.step(grad, eta), x, self.eps)
            x_next = norm.project(x_adv + alpha * (z - x_adv) + (1 - alpha) * (x_adv - x_prev), x, self.eps)
            x_prev, x_adv = x_adv, x_next
            grad, loss = self.estimator(model, x_adv, y, generator)
            if on_step is not None:
                on_step(offset + i + 1, x_adv)
            better = loss > loss_best
            x_best[better], grad_best[better], loss_best[better] = x_adv[better], grad[better], loss[better]
            losses.append(loss)
            if i + 1 in checks:
                window = torch.stack(losses[last_check:])  # the losses since the last check, and its own
                rises = (window[1:] > window[:-1]).sum(0)
                stalled = rises.to(loss.dtype) < self.rho * (window.shape[0] - 1)  # condition 1
                no_gain = ~reduced_last & (best_at_last_check >= loss_best)  # condition 2
                reduce = stalled | no_gain
                eta = torch.where(reduce, eta / 2, eta)
                x_adv = torch.where(reduce.view(-1, *([1] * (x.ndim - 1))), x_best, x_adv)
                grad = torch.where(reduce.view(-1, *([1] * (x.ndim - 1))), grad_best, grad)
                reduced_last, best_at_last_check, last_check = reduce, loss_best.clone(), i + 1
        return x_best
