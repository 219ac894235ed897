"""``avg@N``: the fraction of correct draws."""

from __future__ import annotations

from torch import Tensor

from bench.protocols import Draws, Protocol, as_float, hits, positive
from bench.registry import register


@register("protocol", "avg")
class Average(Protocol):
    """avg@N: per clip, the fraction of the first N fresh draws that are correct (DiffHammer's Avg.Rob)."""

    order = 2

    def __init__(self, n: int = 10):
        self.n = positive(n, "avg")

    @property
    def name(self) -> str:
        return f"avg@{self.n}"

    def robust(self, draws: Draws) -> Tensor:
        return as_float(hits(draws.first(self.n, self.name), draws.labels)).mean(0)

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls(draws)
