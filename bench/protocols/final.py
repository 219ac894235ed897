"""``final@1``: the headline protocol."""

from __future__ import annotations

from torch import Tensor

from bench.protocols import Draws, Protocol, as_float, hits
from bench.registry import register


@register("protocol", "final")
class Final(Protocol):
    """final@1: each final example classified once with fresh randomness; robust when that draw is correct."""

    order = 0

    @property
    def name(self) -> str:
        return "final@1"

    def robust(self, draws: Draws) -> Tensor:
        return as_float(hits(draws.first(1, self.name), draws.labels)[0])

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls()
