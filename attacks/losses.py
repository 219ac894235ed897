"""Per-example attack losses on logits; every attack ascends one of these."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from bench.errors import BadParameter

Loss = Callable[[Tensor, Tensor], Tensor]


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def dlr(logits: Tensor, y: Tensor) -> Tensor:
    """Difference of logits ratio (Croce & Hein, ICML 2020, Eq. 6): −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3).

    Positive exactly when the example is misclassified; invariant to shifting and rescaling the logits.
    """
    if logits.shape[1] < 3:
        raise BadParameter(f"the DLR loss needs at least 3 classes, the model has {logits.shape[1]}; use loss=ce")
    ranked, order = logits.sort(dim=1)
    z_y = logits.gather(1, y.unsqueeze(1)).squeeze(1)
    top_is_y = order[:, -1] == y
    best_other = ranked[:, -2].where(top_is_y, ranked[:, -1])
    return -(z_y - best_other) / (ranked[:, -1] - ranked[:, -3] + 1e-12)


def cw(logits: Tensor, y: Tensor) -> Tensor:
    """The margin loss of Carlini & Wagner (IEEE S&P 2017, f₆ without κ): max_{i≠y} z_i − z_y.

    Positive exactly when the example is misclassified.
    """
    z_y = logits.gather(1, y.unsqueeze(1)).squeeze(1)
    others = logits.scatter(1, y.unsqueeze(1), float("-inf"))
    return others.amax(1) - z_y


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "dlr": dlr, "cw": cw}
