"""Evaluation protocols for stochastic defenses, all scored from one attack run (evaluation_practice §4.3).

The final adversarial examples are classified ``draws`` = N times, each with fresh randomness:

- ``final@1`` (the default headline): the first draw is correct;
- ``vote@M``: the true class gets strictly more of the first M draws than any other class (a tie loses);
- ``avg@N``: the fraction of the N draws that are correct (DiffHammer's Avg.Rob);
- ``worst@N``: all N draws are correct (DiffHammer's Wor.Rob).

``any_iter`` is the released AudioPure/DualPure metric (released_code_spec §6.1), for parity with the papers'
numbers only: a clip counts as broken when one fresh-draw prediction at any iterate of the attack,
iteration 0 (the clean input) included, is wrong. Per-sample results are stored, so any of these can be
recomputed from a record. ``IterateTracker`` also keeps the iterates a cell scores as shorter attacks
(PGD-k inside one PGD-K trajectory, ``bench.evaluate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.errors import BadParameter

ANY_ITER = "any_iter"
ANY_ITER_NOTE = ("released code's metric: wrong at any iterate incl. iteration 0, one fresh draw each; "
                 "for parity with the papers only")


def protocol_order(name: str) -> tuple[int, str]:
    """Display order: final@1 (the headline) first, the released code's any_iter last."""
    kinds = ["final", "vote", "avg", "worst", ANY_ITER]
    kind = name.split("@")[0]
    return (kinds.index(kind) if kind in kinds else len(kinds), name)


@dataclass(frozen=True)
class Protocols:
    draws: int = 10  # N
    vote: int = 10  # M <= N

    def __post_init__(self) -> None:
        if self.draws < 1 or not 1 <= self.vote <= self.draws:
            raise BadParameter(f"--draws must be >= 1 and --vote between 1 and --draws (got {self.draws}, {self.vote})")

    def names(self) -> list[str]:
        return ["final@1", f"vote@{self.vote}", f"avg@{self.draws}", f"worst@{self.draws}", ANY_ITER]

    def spec(self) -> dict[str, int]:
        return {"draws": self.draws, "vote": self.vote}


@torch.no_grad()
def draw_predictions(model: Callable[..., Tensor], waves: Tensor, batch_size: int, device: torch.device,
                     generator: torch.Generator, draws: int) -> tuple[Tensor, Tensor]:
    """Predicted labels (draws, n) of ``draws`` fresh-randomness passes, and per clip whether every logit
    of every pass was finite (both on the CPU)."""
    preds, finite = [], []
    for i in range(0, len(waves), batch_size):
        x = waves[i : i + batch_size].to(device)
        logits = [model(x, generator=generator) for _ in range(draws)]
        preds.append(torch.stack([lg.argmax(1) for lg in logits]).cpu())
        finite.append(torch.stack([torch.isfinite(lg).all(1) for lg in logits]).all(0).cpu())
    if not preds:
        return torch.zeros(draws, 0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)
    return torch.cat(preds, 1), torch.cat(finite)


def score(preds: Tensor, labels: Tensor, protocols: Protocols) -> dict[str, Tensor]:
    """Per-clip outcomes from the (draws, n) predictions: ``final`` and ``vote`` flags, ``correct_draws``."""
    hits = preds == labels.unsqueeze(0)
    classes = int(max(preds.max().item() if preds.numel() else 0, labels.max().item() if labels.numel() else 0)) + 1
    votes = F.one_hot(preds[: protocols.vote], classes).sum(0)  # (n, classes)
    true_votes = votes.gather(1, labels.unsqueeze(1)).squeeze(1)
    others = votes.scatter(1, labels.unsqueeze(1), -1).amax(1)
    return {"final": hits[0], "vote": true_votes > others, "correct_draws": hits.sum(0)}


def accuracies(outcome: dict[str, Tensor], any_iter: Tensor, protocols: Protocols) -> dict[str, float]:
    """Percent robust under each protocol."""
    n = len(any_iter)

    def pct(values: Tensor) -> float:
        return round(100.0 * values.double().mean().item(), 4) if n else float("nan")

    names = protocols.names()
    draws = outcome["correct_draws"]
    return {names[0]: pct(outcome["final"]), names[1]: pct(outcome["vote"]), names[2]: pct(draws / protocols.draws),
            names[3]: pct(draws == protocols.draws), names[4]: pct(any_iter)}


class IterateTracker:
    """Every iterate of the attack, one batch at a time: ``any_iter`` bookkeeping (one fresh-draw prediction per
    iterate, first wrong iterate kept) and, for the iterate counts in ``keep``, a copy of the iterate itself, so
    PGD-k can be scored inside one PGD-K trajectory (``evaluate.score_examples``).

    Its generators are its own (one per batch, given to ``begin``), so observing iterates never changes the
    attack's randomness, and batch b's draws do not depend on how many iterates batch b − 1 had.
    """

    def __init__(self, model: Callable[..., Tensor], generator: torch.Generator | None = None,
                 keep: Sequence[int] = ()):
        self.model, self.generator = model, generator
        self.seconds = 0.0
        self.kept: dict[int, list[Tensor]] = {k: [] for k in keep}
        self.batches = 0

    def begin(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> None:
        if generator is not None:
            self.generator = generator
        self.y = y
        self.first_wrong = torch.full((len(y),), -1, dtype=torch.long, device=y.device)
        self.iterates = 0
        self.observe(x)

    @torch.no_grad()
    def observe(self, x_iter: Tensor) -> None:
        if x_iter.shape[0] != len(self.y):  # an attack working on a subset: its rows cannot be matched
            return
        started = time.perf_counter()
        wrong = self.model(x_iter.detach(), generator=self.generator).argmax(1) != self.y
        self.first_wrong = torch.where(wrong & (self.first_wrong < 0), self.iterates, self.first_wrong)
        if self.iterates in self.kept:
            self.kept[self.iterates].append(x_iter.detach().to("cpu", copy=True))
        self.iterates += 1
        self.seconds += time.perf_counter() - started

    def end(self, x_adv: Tensor) -> Tensor:
        """First wrong iterate per clip (-1: never wrong); an attack that reported no iterate is scored on its
        final examples as iteration 1. Raises when an iterate to keep was not reported for this batch."""
        if self.iterates == 1:
            self.observe(x_adv)
        self.batches += 1
        missing = [k for k, batches in self.kept.items() if len(batches) < self.batches]
        if missing:
            raise BadParameter(f"the attack reported only {self.iterates - 1} iterates for a batch; cannot score "
                               f"step {missing[0]} (lower --score-at or raise --steps)")
        return self.first_wrong.cpu()

    def iterate(self, k: int) -> Tensor:
        """The kept iterate k of every clip, batches concatenated (on the CPU)."""
        return torch.cat(self.kept[k])
