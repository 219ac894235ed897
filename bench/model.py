"""The defended model: the one module attacks see."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.frontend import Wave2Mel
from defenses.base import Defense


class DefendedModel(nn.Module):
    """wave → [defense.purify_wave] → Wave2Mel → [defense.purify_mel] → classifier → logits.

    Stateless: it holds no state that changes between calls; randomness comes from ``generator``
    (torch's default generator when none is given). Always in eval mode, parameters frozen.
    """

    def __init__(self, classifier: nn.Module, defense: Defense, frontend: nn.Module | None = None):
        super().__init__()
        self.defense = defense
        self.frontend = frontend if frontend is not None else Wave2Mel()
        self.classifier = classifier
        self.eval().requires_grad_(False)

    @property
    def stochastic(self) -> bool:
        return self.defense.stochastic

    def train(self, mode: bool = True) -> DefendedModel:
        return super().train(False)  # BN statistics and dropout never change under attack

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        wave = self.defense.purify_wave(wave, generator)
        mel = self.defense.purify_mel(self.frontend(wave), generator)
        return self.classifier(mel)
