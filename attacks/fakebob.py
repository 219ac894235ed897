"""FakeBob: a query-only attack; NES gradient estimates, momentum, signed steps and a plateau-halved lr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from attacks.base import Attack, StepCallback
from attacks.gradients import EOT, NES, GradientEstimator
from attacks.rules import Momentum
from bench.errors import BadParameter
from bench.registry import register


@register("attack", "fakebob")
class FakeBob(Attack):
    """FakeBob (Chen et al., IEEE S&P 2021) as AudioPure ran it: NES estimates from logits only, L∞ ε = 0.002.

    "Who is Real Bob? Adversarial Attacks on Speaker Recognition Systems", §4 (NES gradient estimation,
    Ilyas et al. 2018 Eq. 2), with AudioPure's settings (Wu et al., ICLR 2023; github.com/cychomatica/AudioPure,
    robustness_eval/black_box_attack.py and adaptive_attack_eval.py): ``steps`` = 200 iterations,
    ``samples`` = 200 antithetic NES queries per estimate (σ = 0.001, ``nes_batch`` noisy copies per model
    call), untargeted cross-entropy ascent, momentum g ← 0.9 g + 0.1 ĝ, step lr · sign(g) projected onto the
    ε-ball and [-1, 1], lr from 0.001 halved (down to ``min_lr``) when a ``plateau_length``-iteration window
    shows no progress, ``eot`` = 1.

    Differences from the released code, each because its logic was written for a margin loss that is
    minimised while the SCR task ascends a cross-entropy: no early stop at iteration 100 (it dropped the
    clips that were progressing); ``plateau_rule=stalled`` halves lr when the loss fell over the window (the
    released rule, ``plateau_rule=released``, halves it when the loss rose); the returned example is the
    iterate with the highest NES mean loss (the released code kept the lowest, i.e. usually the clean clip).
    The model is only queried, never differentiated: each clip costs (steps + 1) × samples × eot queries,
    the last estimate only scoring the final iterate.
    """

    def __init__(self, norm: Literal["linf"] = "linf", eps: float | None = None, steps: int = 200,
                 samples: int = 200, sigma: float = 0.001, momentum: float = 0.9, lr: float = 0.001,
                 min_lr: float = 1e-6, plateau_length: int = 5, plateau_drop: float = 2.0,
                 plateau_rule: Literal["stalled", "released"] = "stalled", nes_batch: int = 50, eot: int = 1):
        if norm != "linf":
            raise BadParameter(f"fakebob: is an L∞ attack, got norm={norm!r}")
        self.set_budget("fakebob", norm, eps)
        if steps < 0 or eot < 1 or not 0 <= momentum < 1 or lr <= 0 or min_lr <= 0 or plateau_length < 2 \
                or plateau_drop <= 1 or plateau_rule not in ("stalled", "released"):
            raise BadParameter("fakebob: needs steps >= 0, eot >= 1, 0 <= momentum < 1, lr and min_lr > 0, "
                               "plateau_length >= 2, plateau_drop > 1 and plateau_rule stalled or released")
        self.steps, self.samples, self.sigma, self.momentum = steps, samples, sigma, momentum
        self.lr, self.min_lr, self.nes_batch, self.eot = lr, min_lr, nes_batch, eot
        self.plateau_length, self.plateau_drop, self.plateau_rule = plateau_length, plateau_drop, plateau_rule
        nes = NES(sigma, samples, nes_batch)
        self.estimator: GradientEstimator = nes if eot == 1 else EOT(nes, eot)

    def params(self) -> dict[str, Any]:
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "samples": self.samples,
                "sigma": self.sigma, "momentum": self.momentum, "lr": self.lr, "min_lr": self.min_lr,
                "plateau_length": self.plateau_length, "plateau_drop": self.plateau_drop,
                "plateau_rule": self.plateau_rule, "nes_batch": self.nes_batch, "eot": self.eot}

    @property
    def queries_per_clip(self) -> int:
        return (self.steps + 1) * self.samples * self.eot

    def label(self) -> str:
        eot = f" EOT-{self.eot}" if self.eot > 1 else ""
        return f"FakeBob-{self.steps} NES-{self.samples} {self.geometry.label} ε={self.eps:g}{eot}"

    def _plateau(self, window: Tensor, filled: Tensor, loss: Tensor, lr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Slide ``loss`` into each clip's window; halve lr where a full window shows no progress, then
        start that clip's window afresh (the released code's per-clip lists, batched)."""
        window = torch.cat([window[:, 1:], loss.unsqueeze(1)], 1)
        filled = (filled + 1).clamp(max=self.plateau_length)
        newest, oldest = window[:, -1], window[:, 0]
        no_progress = newest < oldest if self.plateau_rule == "stalled" else newest > oldest
        drop = (filled == self.plateau_length) & no_progress
        lr = torch.where(drop & (lr > self.min_lr), (lr / self.plateau_drop).clamp(min=self.min_lr), lr)
        return window, torch.where(drop, torch.zeros_like(filled), filled), lr

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        b = x.shape[0]
        x_adv, best = x.clone(), x.clone()
        best_loss = torch.full((b,), -torch.inf, device=x.device)
        lr = torch.full((b,), self.lr, device=x.device, dtype=x.dtype)
        window = torch.zeros(b, self.plateau_length, device=x.device)
        filled = torch.zeros(b, dtype=torch.long, device=x.device)
        direction = Momentum(self.momentum, normalize=False, dampening=self.momentum)  # starts at 0.1 ĝ, as released
        for it in range(self.steps + 1):
            grad, loss = self.estimator(model, x_adv, y, generator)
            better = loss > best_loss
            best[better], best_loss[better] = x_adv[better], loss[better]
            if it == self.steps:
                break
            g = direction(grad)
            window, filled, lr = self._plateau(window, filled, loss, lr)
            x_adv = self.geometry.project(x_adv + self.geometry.step(g, lr), x, self.eps)
            if on_step is not None:
                on_step(it + 1, x_adv)
        return best
