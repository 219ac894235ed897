"""PGD: projected gradient ascent on the cross-entropy, any norm, EOT or any estimator's gradients, restarts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, StepCallback
from attacks.estimators import choose_gradient
from attacks.gradients import GradientEstimator
from attacks.norms import get_norm
from attacks.restarts import RestartRule, check_restarts, restarted
from attacks.rules import ascend
from bench.errors import BadParameter
from bench.registry import register


@register("attack", "pgd")
class PGD(Attack):
    """Projected gradient descent (Madry et al., ICLR 2018), any registered norm, with EOT or any estimator.

    "Towards Deep Learning Models Resistant to Adversarial Attacks", Eq. 2: x ← Π(x + α · step(∇ L)).
    As AudioPure (Wu et al., ICLR 2023; github.com/cychomatica/AudioPure, robustness_eval/white_box_attack.py)
    and DualPure (Tan et al., Interspeech 2024; github.com/Sec4ai/DualPure) run it: untargeted cross-entropy
    ascent, no random start by default, step ε/5 (L∞, sign step) or ε/2 (L2, normalised step), each iterate
    projected onto the ε-ball and [-1, 1]. Defaults ε = 0.002 (L∞) and 0.253 (L2): the norm's own.
    ``eot`` > 1 averages each gradient over that many fresh draws of the defense's randomness, ``eot_batch``
    copies at a time; ``gradient`` names any registered estimator instead (``nes:200``, ``eot:20:batch=5``).

    ``restarts`` > 1 runs the attack that many times (every run after the first from a random start) and
    keeps, per example, the run ``restart_by`` rates best over ``restart_draws`` fresh draws: the highest
    mean loss, or the most misclassifying draws; never one noisy prediction.

    ``fixed_randomness`` runs the attack and the final evaluation on one known purifier draw per clip (Liu
    et al., ICLR 2025; ``bench.fixed_draws``): gradient mode ``fixed``.

    ``eps_db`` = D (L∞ only) bounds each clip's perturbation relative to its own peak, the dB_x(δ) =
    20·log10(max|δ| / max|x|) ≤ D convention of Carlini & Wagner's audio attacks ("Audio Adversarial
    Examples", IEEE S&P Workshops 2018, Sec. III-B): clip i's radius is max|x_i| · 10^(D/20), and its step
    the same fraction of it as ``step_size`` is of ``eps`` (``eps`` is then 10^(D/20), the radius at peak 1).
    """

    def __init__(self, norm: str = "linf", eps: float | None = None, steps: int = 10, step_size: float | None = None,
                 random_start: bool = False, eot: int = 1, eot_batch: int | None = None, restarts: int = 1,
                 restart_by: RestartRule = "loss", restart_draws: int = 10, gradient: str | None = None,
                 fixed_randomness: bool = False, eps_db: float | None = None):
        if eps_db is not None:
            if eps is not None:
                raise BadParameter("pgd: give --eps (absolute) or --eps-db (relative to each clip's peak), not both")
            if not (math.isfinite(eps_db) and eps_db <= 0) or get_norm(norm, "pgd").name != "linf":
                raise BadParameter(f"pgd: eps_db {eps_db:g}: a relative L∞ budget needs --norm linf and a finite "
                                   "D <= 0 dB (e.g. --eps-db -40: max|δ| is 1 % of the clip's peak)")
            eps = 10 ** (eps_db / 20)
        self.eps_db = eps_db
        self.set_budget("pgd", norm, eps)
        if steps < 0 or eot < 1 or (eot_batch is not None and eot_batch < 1):
            raise BadParameter("pgd: needs eps > 0, steps >= 0, eot >= 1 and eot_batch >= 1")
        check_restarts("pgd", restarts, restart_by, restart_draws)
        self.steps = steps
        self.step_size = float(step_size if step_size is not None else self.geometry.default_step_size(self.eps))
        self.random_start = random_start
        self.restarts, self.restart_by, self.restart_draws = restarts, restart_by, restart_draws
        self.gradient_choice = choose_gradient("pgd", gradient, eot, eot_batch)
        self.eot, self.eot_batch = self.gradient_choice.eot, self.gradient_choice.eot_batch
        self.estimator: GradientEstimator = self.gradient_choice.estimator
        self.set_fixed_randomness("pgd", fixed_randomness)

    def params(self) -> dict[str, Any]:
        # ``gradient`` only when eot/eot_batch do not say it all, so older records keep their cell ids
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "step_size": self.step_size,
                "random_start": self.random_start, "eot": self.eot, "eot_batch": self.eot_batch,
                "restarts": self.restarts, "restart_by": self.restart_by, "restart_draws": self.restart_draws,
                **({"gradient": self.gradient_choice.text} if self.gradient_choice.text else {}),
                **self.fixed_params(), **({"eps_db": self.eps_db} if self.eps_db is not None else {})}

    def budget_eps(self, x: Tensor) -> float | Tensor:
        """Each clip's radius: ``eps``, or with ``eps_db`` the clip's peak times 10^(D/20) (one per clip)."""
        if self.eps_db is None:
            return self.eps
        return self.eps * x.detach().flatten(1).abs().amax(1)

    @property
    def prefix_consistent(self) -> bool:
        # The step size is ε/5 (ε/2) whatever the step count and the last iterate is returned, so PGD-k is
        # the first k steps of PGD-K; restarts would pick among whole runs, which breaks that.
        return self.restarts == 1

    def label(self) -> str:
        extra = self.gradient_choice.label + (" rand" if self.random_start else "")
        extra += f" R{self.restarts}-{self.restart_by}" if self.restarts > 1 else ""
        extra += " fixed-draw" if self.fixed_randomness else ""
        budget = f"{self.eps_db:g} dB_x" if self.eps_db is not None else f"ε={self.eps:g}"
        return f"PGD-{self.steps} {self.geometry.label} {budget}{extra}"

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        eps, step_size = self.eps, self.step_size
        if self.eps_db is not None:  # per clip: radius and step scale with the clip's peak, shape (B, 1, ..)
            peak = self.budget_eps(x).view(-1, *([1] * (x.ndim - 1))) / self.eps
            eps, step_size = self.eps * peak, self.step_size * peak
        run = lambda start, r: ascend(model, x, y, generator, start, self.estimator, self.geometry,  # noqa: E731
                                      eps, step_size, self.steps, on_step=on_step, first_step=r * self.steps + 1)
        return restarted(model, x, y, generator, run, self.restarts, self.random_start, eps, self.geometry,
                         self.restart_by, self.restart_draws)
