"""DiffHammer: the selective (EM) attack with gradient grafting, scored by N-evaluation (worst of N draws)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, StepCallback
from attacks.gradients import EOT, Autograd
from attacks.losses import LOSSES
from attacks.selective import DrawStats, SelectionPolicy, em_direction, graft, n_draws
from bench.errors import BadParameter
from bench.registry import register
from bench.row_draws import RowGenerators
from bench.seeding import derive_seed


def parse_losses(owner: str, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in LOSSES]
    if not names or unknown:
        raise BadParameter(f"{owner}: losses={text!r}: name one or more of {', '.join(LOSSES)} separated by commas")
    return names


@register("attack", "diffhammer")
class DiffHammer(Attack):
    """DiffHammer (Wang, Fu, Han, Xiang, NeurIPS 2024; github.com/Ka1b0/DiffHammer), for randomized purifiers.

    "DiffHammer: Rethinking the Robustness of Diffusion-Based Adversarial Purification", §4: plain EOT
    averages gradients of draws whose vulnerabilities differ (the gradient dilemma). Each iteration purifies
    the current iterate ``evaluations`` = N times with fresh draws and takes each draw's gradient ``g_i`` and
    loss ``ℓ_i``; EM (``em_steps``) finds the direction shared by the draws most likely to break,
    E-step ``w_i = σ(λ (ℓ_i + η ⟨u(r), g_i⟩))`` (the first-order loss after a step η along the unit step u(r)
    of the norm; η = ``em_eta``, by default the attack's step size), M-step ``r = Σ w_i g_i / Σ w_i``, started
    at the draw whose direction raises the others' losses most (their ``seeds_select``). With grafting the
    g_i live at the purified input (dB mels), where a step of the waveform's size is small: the first-order
    term then barely moves the weights, which rank draws by their loss (set ``em_eta`` to a purified-space
    step, e.g. 1 dB, to weigh direction agreement more). *Gradient grafting*: the ``g_i`` are taken at the
    purified input (classifier only: cheap), and ``r`` is carried back to the waveform through one full
    backward pass of the purifier on the draw most aligned with ``r``, replayed exactly (``RowGenerators``);
    ``grafting=false`` takes full gradients for every draw instead (N backward passes; for checking).
    The ascent is ``x ← Π(x + step(v G + (1 − v) G_prev))`` with ``v = (k + 1)^−α`` (``em_alpha``).

    ``restarts`` runs, each from a random start, cycle ``losses`` (CW, CE, DLR by default); restarts after
    the first attack only clips not yet wrong under all N draws. Per clip, the iterate kept is the one with the
    most of the N draws wrong (ties: higher mean cross-entropy), so the cell's worst@N and avg@N score what
    DiffHammer's N-evaluation scores. ``em=false`` is PGD-EOT with ``eot`` draws (default N) and the same
    step, which a test checks trajectory for trajectory. Step size 1.2 ε / ``steps`` as their PGD.
    λ = ``em_lambda`` and α = ``em_alpha`` are ours (their config file is not public); N = 10, 3 × 50
    iterations and 5 EM steps are theirs.
    """

    def __init__(self, norm: str = "linf", eps: float | None = None, steps: int = 50, restarts: int = 3,
                 losses: str = "cw,ce,dlr", evaluations: int = 10, em: bool = True, em_steps: int = 5,
                 em_lambda: float = 1.0, em_alpha: float = 0.5, em_eta: float | None = None, grafting: bool = True,
                 eot: int | None = None, step_size: float | None = None, random_start: bool = True,
                 batch: int | None = None):
        self.set_budget("diffhammer", norm, eps)
        if min(steps, restarts, evaluations, eot or 1) < 1 or em_steps < 0 or em_alpha < 0:
            raise BadParameter("diffhammer: needs steps, restarts, evaluations, eot >= 1, em_steps >= 0, em_alpha >= 0")
        if batch is not None and batch < 1:
            raise BadParameter("diffhammer: batch (copies per call) must be >= 1")
        self.steps, self.restarts, self.evaluations = steps, restarts, evaluations
        self.losses = parse_losses("diffhammer", losses)
        self.em, self.em_steps, self.em_lambda, self.em_alpha = em, em_steps, em_lambda, em_alpha
        self.grafting, self.random_start, self.batch = grafting, random_start, batch
        self.eot = eot if eot is not None else evaluations
        self.step_size = float(step_size if step_size is not None else 1.2 * self.eps / steps)
        self.em_eta = float(em_eta if em_eta is not None else self.step_size)

    def params(self) -> dict[str, Any]:
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "restarts": self.restarts,
                "losses": ",".join(self.losses), "evaluations": self.evaluations, "em": self.em,
                "em_steps": self.em_steps, "em_lambda": self.em_lambda, "em_alpha": self.em_alpha,
                "em_eta": self.em_eta, "grafting": self.grafting, "eot": self.eot, "step_size": self.step_size,
                "random_start": self.random_start, "batch": self.batch}

    @property
    def gradient_mode(self) -> str:
        return ("grafted" if self.grafting else "em") if self.em else "eot"

    @property
    def draws_per_gradient(self) -> int:
        return self.evaluations if self.em else self.eot

    @property
    def passes_per_gradient(self) -> int:
        # the N evaluation draws, plus one grafted purification (EM) or the EOT copies (EM off)
        return self.evaluations + (1 if self.grafting else 0) if self.em else self.evaluations + self.eot

    @property
    def evaluation_draws(self) -> int:
        return self.evaluations

    @property
    def expected_steps(self) -> int:
        return self.steps * self.restarts

    def label(self) -> str:
        kind = ("DiffHammer" if self.grafting else "DiffHammer-full") if self.em else "DiffHammer-noEM"
        return f"{kind}-{self.restarts}×{self.steps} {self.geometry.label} ε={self.eps:g} N={self.evaluations}"

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        # the N-evaluation draws have their own stream, so the ascent's draws are PGD-EOT's when EM is off
        draws = torch.Generator(device=generator.device).manual_seed(
            derive_seed(generator.initial_seed(), "diffhammer-evaluations"))
        policy = SelectionPolicy(x)
        for r in range(self.restarts):
            todo = torch.arange(len(x), device=x.device) if r == 0 else policy.unbroken(self.evaluations)
            if len(todo) == 0:
                break
            start = (self.geometry.random_start(x[todo], self.eps, generator) if self.random_start or r > 0
                     else x[todo].clone())
            self._run(model, x, y, todo, start, LOSSES[self.losses[r % len(self.losses)]], generator, draws,
                      policy, on_step, first_step=r * self.steps + 1)
        return policy.best

    def _run(self, model: Callable[..., Tensor], x_all: Tensor, y_all: Tensor, todo: Tensor, start: Tensor,
             loss: Callable[[Tensor, Tensor], Tensor], generator: torch.Generator, draws: torch.Generator,
             policy: SelectionPolicy, on_step: StepCallback | None, first_step: int) -> None:
        x, y, x_adv = x_all[todo], y_all[todo], start
        # grafting replays each clip's chosen draw, so it needs per-clip streams; the other modes use them
        # where the defense has them, so grafted and full gradients are taken on the very same draws
        per_clip = bool(getattr(model, "per_clip_draws", True))
        if self.em and self.grafting and not per_clip:
            raise BadParameter("diffhammer: gradient grafting replays each clip's chosen draw, which this defense "
                               "cannot (its noise is drawn for the whole batch); use -o attack.grafting=false")
        eot = EOT(Autograd(loss), self.eot, self.batch) if self.eot > 1 else Autograd(loss)
        previous: Tensor | None = None
        for k in range(self.steps + 1):
            streams = RowGenerators.drawn(draws, self.evaluations * len(x), x.device) if per_clip else draws
            need_grad = self.em and k < self.steps
            stats: DrawStats = n_draws(model, x_adv, y, streams, self.evaluations, loss, self.batch,
                                       gradients=("purified" if self.grafting else "input") if need_grad else None)
            policy.update(todo, x_adv, stats)
            if k == self.steps or bool(stats.wrong.all()):
                break
            if self.em:
                direction, chosen = em_direction(stats, self.geometry, self.em_eta, self.em_lambda, self.em_steps)
                # at the purified input: grafted back to the waveform; full gradients are at the waveform already
                direction = (graft(model, x_adv, direction, streams, chosen, len(x)) if self.grafting
                             else direction.view_as(x_adv))
                if previous is not None:
                    v = (k + 1) ** -self.em_alpha
                    direction = v * direction + (1 - v) * previous
                previous = direction
            else:
                direction, _ = eot(model, x_adv, y, generator)
            x_adv = self.geometry.project(x_adv + self.geometry.step(direction, self.step_size), x, self.eps)
            if on_step is not None:
                on_step(first_step + k, policy.with_rows(todo, x_adv))
