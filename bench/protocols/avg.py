"""``avg@N``: the fraction of correct draws."""

from __future__ import annotations

from torch import Tensor

from bench.protocols import CountedProtocol, Draws, Protocol, as_float, hits
from bench.registry import register


@register("protocol", "avg")
class Average(CountedProtocol):
    """avg@N: per clip, the fraction of the first N fresh draws that are correct (DiffHammer's Avg.Rob)."""

    kind, order = "avg", 2

    def robust(self, draws: Draws) -> Tensor:
        return as_float(hits(draws.first(self.n, self.name), draws.labels)).mean(0)

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls(draws)
