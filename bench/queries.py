"""Counting what an attack asks of the defended model.

What counts: every row (example) that goes through ``forward`` or ``purify`` is one *query* of the defense
(``queries``), whatever the attack then does with the result; every row through ``classify`` is one
*classification* (``classifications``), counted apart, because classifying a purified input again (gradient
grafting: one purification, several gradients) asks nothing new of the defense. ``forward`` counts once as
a query, not also as a classification, so ``queries`` means what it always has for attacks that only call
the model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class QueryCounter(nn.Module):
    """The model an attack is handed: forwards to ``model`` and counts the examples it is called on.

    Counting at the model, not inside attacks, makes the number honest whatever the attack does: NES
    samples, EOT draws, restart selection and any check it makes all count; a transfer attack's count on
    the target is zero.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.queries = 0  # rows through forward or purify
        self.classifications = 0  # rows through classify alone

    @property
    def stochastic(self) -> bool:
        return bool(getattr(self.model, "stochastic", True))

    @property
    def per_clip_draws(self) -> bool:
        return bool(getattr(self.model, "per_clip_draws", True))

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self.queries += wave.shape[0]
        return self.model(wave, generator=generator)

    def purify(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The defended model's purification (one query per row)."""
        self.queries += wave.shape[0]
        return self.model.purify(wave, generator)

    def classify(self, mel: Tensor) -> Tensor:
        """The defended model's classifier on a purified input (one classification per row)."""
        self.classifications += mel.shape[0]
        return self.model.classify(mel)
