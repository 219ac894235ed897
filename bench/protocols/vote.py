"""``vote@M``: majority vote over fresh draws."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from bench.protocols import CountedProtocol, Draws, Protocol, as_float
from bench.registry import register


@register("protocol", "vote")
class Vote(CountedProtocol):
    """vote@M: majority vote over the first M fresh draws (a tie loses).

    Robust when the true class gets strictly more of the first M draws than any other class: the
    smoothed-classifier reading of a randomized defense (Cohen et al., ICML 2019, Eq. 1)."""

    kind, order = "vote", 1

    def robust(self, draws: Draws) -> Tensor:
        preds, labels = draws.first(self.n, self.name), draws.labels
        classes = int(max(preds.max().item() if preds.numel() else 0, labels.max().item() if labels.numel() else 0)) + 1
        votes = F.one_hot(preds, classes).sum(0)  # (n, classes)
        true_votes = votes.gather(1, labels.unsqueeze(1)).squeeze(1)
        others = votes.scatter(1, labels.unsqueeze(1), -1).amax(1)
        return as_float(true_votes > others)

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol:
        return cls(vote)
