"""Counting what an attack asks of the defended model: every row of every forward pass is one query."""

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
        self.queries = 0

    @property
    def stochastic(self) -> bool:
        return bool(getattr(self.model, "stochastic", True))

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self.queries += wave.shape[0]
        return self.model(wave, generator=generator)
