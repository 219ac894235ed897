"""Counting what an attack asks of the defended model: queries, classifications and gradient computations.

What counts: every row (example) that goes through ``forward`` or ``purify`` is one *query* of the defense
(``queries``), whatever the attack then does with the result; every row through ``classify`` is one
*classification* (``classifications``), counted apart, because classifying a purified input again (gradient
grafting: one purification, several gradients) asks nothing new of the defense. ``forward`` counts once as
a query, not also as a classification, so ``queries`` means what it always has for attacks that only call
the model.

A *gradient* is a row whose backward pass actually went through the defended model: the counter hands the
model a view of its input with a hook that counts the rows when a backward pass reaches that input, i.e.
after it has run back through the whole purifier and classifier (``forward``, ``purify``: ``gradients``) or
the classifier alone (``classify``: ``classifier_gradients``). A forward pass nobody differentiates, one under
``no_grad`` (NES, restart selection) or a backward that stops short of the input counts nothing; a backward
run twice through one forward counts twice. A transfer attack's counts on the target are all zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def _per_clip(total: int, clips: int) -> float:
    return round(total / clips, 3) if clips else 0.0


class QueryCounter(nn.Module):
    """The model an attack is handed: forwards to ``model`` and counts the examples it is called on, and the
    rows whose gradient is backpropagated through it.

    Counting at the model, not inside attacks, makes the numbers honest whatever the attack does: NES
    samples, EOT draws, restart selection and any check it makes all count; a transfer attack's count on
    the target is zero.
    """

    def __init__(self, model: nn.Module, observer: Callable[[Tensor, Tensor], None] | None = None):
        super().__init__()
        self.model = model
        self.observer = observer  # shown (input wave, logits) of every forward call: the iterate tracker's reuse
        self.queries = 0  # rows through forward or purify
        self.classifications = 0  # rows through classify alone
        self.gradients = 0  # rows backpropagated through forward or purify, back to the input wave
        self.classifier_gradients = 0  # rows backpropagated through classify alone, back to its input

    @property
    def stochastic(self) -> bool:
        return bool(getattr(self.model, "stochastic", True))

    @property
    def per_clip_draws(self) -> bool:
        return bool(getattr(self.model, "per_clip_draws", True))

    def _watched(self, x: Tensor, counter: str) -> Tensor:
        """``x`` itself, or, when a backward pass can reach it, a view of it that adds its rows to ``counter``
        each time one does."""
        if not (torch.is_grad_enabled() and x.requires_grad):
            return x
        rows = x.shape[0]

        def count(grad: Tensor) -> None:
            setattr(self, counter, getattr(self, counter) + rows)

        watched = x.view_as(x)
        watched.register_hook(count)
        return watched

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self.queries += wave.shape[0]
        logits = self.model(self._watched(wave, "gradients"), generator=generator)
        if self.observer is not None:
            self.observer(wave.detach(), logits)
        return logits

    def purify(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The defended model's purification (one query per row)."""
        self.queries += wave.shape[0]
        return self.model.purify(self._watched(wave, "gradients"), generator)

    def classify(self, mel: Tensor) -> Tensor:
        """The defended model's classifier on a purified input (one classification per row)."""
        self.classifications += mel.shape[0]
        return self.model.classify(self._watched(mel, "classifier_gradients"))

    COUNTS = ("queries", "classifications", "gradients", "classifier_gradients")

    def counts(self) -> dict[str, int]:
        """The four counts now (a resumed cell adds a batch's difference of two of these, ``add``)."""
        return {name: getattr(self, name) for name in self.COUNTS}

    def add(self, counts: dict[str, int]) -> None:
        """Add what an earlier process counted for a batch this one does not attack again."""
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + int(counts.get(name, 0)))

    def summary(self, clips: int) -> dict[str, Any]:
        """The record's ``queries`` entry for an attack on ``clips`` clips: ``total`` and ``per_clip`` (queries,
        as always), ``classifications``, ``gradients``, ``gradients_per_clip`` and ``classifier_gradients``."""
        return {"total": self.queries, "per_clip": _per_clip(self.queries, clips),
                "classifications": self.classifications, "gradients": self.gradients,
                "gradients_per_clip": _per_clip(self.gradients, clips),
                "classifier_gradients": self.classifier_gradients}


def cost_text(record: dict[str, Any]) -> str:
    """A record's cost in one phrase: "10 queries/clip, 10 gradients/clip", then the peak memory where it was
    measured ("peak 1.2 GiB, 0.3 GiB/clip"); a record made before gradients were counted shows its queries."""
    queries = record["queries"]
    text = f"{queries['per_clip']:g} queries/clip"
    if queries.get("gradients_per_clip") is not None:
        text += f", {queries['gradients_per_clip']:g} gradients/clip"
    memory = record.get("memory") or {}
    if memory.get("peak_bytes") is not None:
        text += f", peak {memory['peak_bytes'] / 2**30:.2f} GiB"
        if memory.get("per_clip_bytes") is not None:
            text += f", {memory['per_clip_bytes'] / 2**30:.2f} GiB/clip"
    return text
