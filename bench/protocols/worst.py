"""``worst@N``: every draw correct."""

from __future__ import annotations

from torch import Tensor

from bench.protocols import Draws, Protocol, as_float, hits, positive
from bench.registry import register


@register("protocol", "worst")
class Worst(Protocol):
    """worst@N: robust when all of the first N fresh draws are correct (DiffHammer's Wor.Rob)."""

    order = 3

    def __init__(self, n: int = 10):
        self.n = positive(n, "worst")

    @property
    def name(self) -> str:
        return f"worst@{self.n}"

    def robust(self, draws: Draws) -> Tensor:
        return as_float(hits(draws.first(self.n, self.name), draws.labels).all(0))

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls(draws)
