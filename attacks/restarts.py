"""Choosing among restarts without trusting one noisy prediction.

AutoAttack (github.com/fra31/auto-attack) before its pull requests #104/#105, and ART's ``num_random_init``
(github.com/Trusted-AI/adversarial-robustness-toolbox, ``art/utils.py: compute_success_array``), keep a restart
when a single forward pass calls it adversarial; on a randomized defense that rewards luck (Liu et al. 2024,
arXiv:2404.14309, App. L). Here every candidate is scored over ``draws`` fresh draws of the defense, per
example: ``loss`` keeps the highest mean cross-entropy, ``vote`` the most draws misclassified (ties to the
higher mean loss).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from attacks.gradients import Model
from attacks.losses import cross_entropy
from attacks.norms import Norm
from bench.errors import BadParameter

RestartRule = Literal["loss", "vote"]


def check_restarts(attack: str, restarts: int, restart_by: str, restart_draws: int) -> None:
    if restarts < 1 or restart_draws < 1 or restart_by not in ("loss", "vote"):
        raise BadParameter(f"{attack}: needs restarts >= 1, restart_draws >= 1 and restart_by loss or vote")


@torch.no_grad()
def mean_loss_and_wrong_draws(model: Model, x: Tensor, y: Tensor, generator: torch.Generator,
                              draws: int) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy and number of misclassifying draws per example, over ``draws`` fresh draws."""
    loss = torch.zeros(x.shape[0], device=x.device)
    wrong = torch.zeros(x.shape[0], device=x.device, dtype=torch.long)
    for _ in range(draws):
        logits = model(x, generator=generator)
        loss += cross_entropy(logits, y)
        wrong += (logits.argmax(1) != y).long()
    return loss / draws, wrong


def best_of(model: Model, x: Tensor, y: Tensor, candidates: list[Tensor], generator: torch.Generator,
            by: RestartRule, draws: int) -> Tensor:
    """Per example, the candidate adversarial example that ``by`` rates best (the first one on exact ties)."""
    if len(candidates) == 1:
        return candidates[0]
    scores = [mean_loss_and_wrong_draws(model, c, y, generator, draws) for c in candidates]
    loss = torch.stack([s[0] for s in scores])  # (R, B)
    if by == "vote":
        wrong = torch.stack([s[1] for s in scores])
        loss = loss.where(wrong == wrong.max(0).values, torch.full_like(loss, -torch.inf))
    best = loss.nan_to_num(-torch.inf).argmax(0)
    stacked = torch.stack(candidates)
    return stacked[best, torch.arange(x.shape[0], device=x.device)]


def restarted(model: Model, x: Tensor, y: Tensor, generator: torch.Generator, run: Callable[[Tensor, int], Tensor],
              restarts: int, random_first: bool, eps: float, norm: Norm, restart_by: RestartRule,
              draws: int) -> Tensor:
    """``run(start, r)`` once per restart ``r`` (every start after the first random in the ε-ball, the first
    too when ``random_first``), then the best candidate per example by ``best_of``."""
    starts = (norm.random_start(x, eps, generator) if random_first or r > 0 else x.clone() for r in range(restarts))
    candidates = [run(start, r) for r, start in enumerate(starts)]
    return best_of(model, x, y, candidates, generator, restart_by, draws)
