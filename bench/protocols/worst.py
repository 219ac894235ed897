"""``worst@N``: every draw correct."""

from __future__ import annotations

from torch import Tensor

from bench.protocols import CountedProtocol, Draws, Protocol, as_float, hits
from bench.registry import register


@register("protocol", "worst")
class Worst(CountedProtocol):
    """worst@N: robust when all of the first N fresh draws are correct (DiffHammer's Wor.Rob)."""

    kind, order = "worst", 3

    def robust(self, draws: Draws) -> Tensor:
        return as_float(hits(draws.first(self.n, self.name), draws.labels).all(0))

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls(draws)
