"""What a cell observes of its examples: fresh-draw predictions, and every iterate of the attack.

``draw_predictions`` classifies examples ``draws`` times with fresh randomness (what protocols score).
``IterateTracker`` watches the attack's iterates: one fresh-draw prediction each (the first wrong iterate per
clip, for the released code's ``any_iter``) and copies of the iterates a cell scores as shorter attacks
(PGD-k inside one PGD-K trajectory, ``bench.evaluate``). For a deterministic model the prediction at an
iterate is the one the attack's own forward pass at that iterate already made (``reuse``), so tracking
costs one extra forward pass per batch (the final iterate's) instead of one per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from bench.errors import BadParameter
from bench.fixed_draws import FixedDraw


@torch.no_grad()
def draw_predictions(model: Callable[..., Tensor], waves: Tensor, batch_size: int, device: torch.device,
                     generator: torch.Generator, draws: int) -> tuple[Tensor, Tensor]:
    """Predicted labels (draws, n) of ``draws`` fresh-randomness passes, and per clip whether every logit
    of every pass was finite (both on the CPU). A ``FixedDraw`` model classifies each batch with its clips'
    fixed draws."""
    preds, finite = [], []
    for i in range(0, len(waves), batch_size):
        x = waves[i : i + batch_size].to(device)
        batch_model = model.rows(i, i + len(x)) if isinstance(model, FixedDraw) else model
        logits = [batch_model(x, generator=generator) for _ in range(draws)]
        preds.append(torch.stack([lg.argmax(1) for lg in logits]).cpu())
        finite.append(torch.stack([torch.isfinite(lg).all(1) for lg in logits]).all(0).cpu())
    if not preds:
        return torch.zeros(draws, 0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)
    return torch.cat(preds, 1), torch.cat(finite)


class IterateTracker:
    """Every iterate of the attack, one batch at a time: ``any_iter`` bookkeeping (one fresh-draw prediction per
    iterate, first wrong iterate kept) and, for the iterate counts in ``keep``, a copy of the iterate itself, so
    PGD-k can be scored inside one PGD-K trajectory (``evaluate.score_examples``).

    Its generators are its own (one per batch, given to ``begin``), so observing iterates never changes the
    attack's randomness, and batch b's draws do not depend on how many iterates batch b − 1 had.

    With ``reuse`` (only for a deterministic model: the same input gives the same logits, whoever computes
    them) an observed iterate waits: when the attack next runs the model on exactly that input
    (``offer``, called by the ``QueryCounter`` the attack holds), its logits decide the iterate; an iterate
    the attack never runs (the last one; one after a random start) is classified here, as without reuse.
    """

    def __init__(self, model: Callable[..., Tensor], generator: torch.Generator | None = None,
                 keep: Sequence[int] = (), reuse: bool = False):
        self.model, self.generator, self.reuse = model, generator, reuse
        self.seconds = 0.0
        self.kept: dict[int, list[Tensor]] = {k: [] for k in keep}
        self.batches = 0
        self.pending: Tensor | None = None  # an observed iterate not yet classified (reuse only)
        self.reused = 0  # iterates decided by the attack's own forward pass

    def begin(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None,
              model: Callable[..., Tensor] | None = None) -> None:
        """Start a batch; ``model``: the model this batch's iterates are classified with (default: the
        tracker's; a batch's ``FixedDraw`` under fixed randomness)."""
        if generator is not None:
            self.generator = generator
        self.batch_model = model if model is not None else self.model
        self.y = y
        self.first_wrong = torch.full((len(y),), -1, dtype=torch.long, device=y.device)
        self.iterates = 0
        self.pending = None
        self.observe(x)

    @torch.no_grad()
    def observe(self, x_iter: Tensor) -> None:
        if x_iter.shape[0] != len(self.y):  # an attack working on a subset: its rows cannot be matched
            return
        started = time.perf_counter()
        self._flush()
        x_iter = x_iter.detach()
        if self.iterates in self.kept:
            self.kept[self.iterates].append(x_iter.to("cpu", copy=True))
        if self.reuse:  # a copy: the attack may update its iterate in place before running the model on it
            self.pending = x_iter.clone()
        else:
            self._decide(self.batch_model(x_iter, generator=self.generator))
        self.seconds += time.perf_counter() - started

    @torch.no_grad()
    def offer(self, wave: Tensor, logits: Tensor) -> None:
        """The attack ran the model on ``wave`` and got ``logits``: the pending iterate's prediction, when
        ``wave`` is that iterate."""
        if self.pending is None or wave.shape != self.pending.shape:
            return
        started = time.perf_counter()
        if torch.equal(wave, self.pending):
            self.pending = None
            self._decide(logits.detach())
            self.reused += 1
        self.seconds += time.perf_counter() - started

    def _flush(self) -> None:
        """Classify the pending iterate here: the attack moved on without running the model on it."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self._decide(self.batch_model(pending, generator=self.generator))

    def _decide(self, logits: Tensor) -> None:
        wrong = logits.argmax(1) != self.y
        self.first_wrong = torch.where(wrong & (self.first_wrong < 0), self.iterates, self.first_wrong)
        self.iterates += 1

    def end(self, x_adv: Tensor) -> Tensor:
        """First wrong iterate per clip (-1: never wrong); an attack that reported no iterate is scored on its
        final examples as iteration 1. Raises when an iterate to keep was not reported for this batch."""
        started = time.perf_counter()
        with torch.no_grad():
            self._flush()
        self.seconds += time.perf_counter() - started
        if self.iterates == 1:
            self.observe(x_adv)
            with torch.no_grad():
                self._flush()
        self.batches += 1
        missing = [k for k, batches in self.kept.items() if len(batches) < self.batches]
        if missing:
            raise BadParameter(f"the attack reported only {self.iterates - 1} iterates for a batch; cannot score "
                               f"step {missing[0]} (lower --score-at or raise --steps)")
        return self.first_wrong.cpu()

    def last_kept(self) -> dict[int, Tensor]:
        """The iterates kept for the batch just ended (step → iterate)."""
        return {k: batches[-1] for k, batches in self.kept.items()}

    def restore(self, kept: dict[int, Tensor], seconds: float) -> None:
        """Take a batch an earlier process tracked (its kept iterates, its tracking seconds) as this one's."""
        for k, batches in self.kept.items():
            batches.append(kept[k])
        self.batches += 1
        self.seconds += seconds

    def iterate(self, k: int) -> Tensor:
        """The kept iterate k of every clip, batches concatenated (on the CPU)."""
        return torch.cat(self.kept[k])
