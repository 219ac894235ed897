"""``any_iter``: the released AudioPure/DualPure code's metric, for parity with the papers only."""

from __future__ import annotations

from torch import Tensor

from bench.protocols import ANY_ITER, Draws, Protocol, as_float
from bench.registry import register


@register("protocol", ANY_ITER)
class AnyIter(Protocol):
    """any_iter: the released code's metric, for parity with the papers only (not a robustness protocol).

    Broken when one fresh-draw prediction at any iterate 0..k (0: the clean input) was wrong, as the released
    code counts a success (github.com/cychomatica/AudioPure, github.com/Sec4ai/DualPure)."""

    order = 90

    @property
    def name(self) -> str:
        return ANY_ITER

    def robust(self, draws: Draws) -> Tensor:
        wrong = draws.first_wrong
        survived = wrong < 0 if draws.step is None else (wrong < 0) | (wrong > draws.step)
        return as_float(survived)

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls()
