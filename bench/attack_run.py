"""The attack over a cell's clips, batch by batch, with its iterates watched (``bench.iterates``) and its cost
counted (``bench.queries``, ``bench.memory``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from attacks.base import Attack
from bench.batch_store import AttackedBatch, BatchStore
from bench.fixed_draws import FixedDraw
from bench.iterates import IterateTracker
from bench.memory import PeakMemory
from bench.model import DefendedModel
from bench.queries import QueryCounter
from bench.seeding import make_generator


@dataclass
class AttackRun:
    """What ``run_attack`` gives: the adversarial examples, the first wrong iterate per clip (any_iter), what
    the attack cost (``queries``, ``memory``), its seconds apart from tracking's, the tracker (holding the
    iterates asked for), whether the attack drew anything from its generators, its outcomes
    (``Attack.merge_outcomes``), and the batches kept from an earlier process with their seconds."""

    x_adv: Tensor
    first_wrong: Tensor
    cost: dict[str, Any]
    seconds: float
    tracker: IterateTracker
    drew: bool
    outcomes: dict[str, Any] = field(default_factory=dict)
    resumed: int = 0
    resumed_seconds: float = 0.0


def run_attack(model: DefendedModel, attack: Attack, waves: Tensor, labels: Tensor, seed: int, batch_size: int,
               device: torch.device, progress: bool, desc: str, keep: Sequence[int] = (),
               fixed: FixedDraw | None = None, reuse: bool = False, store: BatchStore | None = None) -> AttackRun:
    """The attack over every batch: adversarial examples, first wrong iterate per clip (any_iter), what the
    attack cost (the record's ``queries``: queries, classifications and gradients through the defended model,
    ``bench.queries``; and ``memory``: its peak on CUDA, ``bench.memory``), its seconds (iterate tracking
    excluded) and the tracker holding the iterates ``keep`` asks for. Batch b's attack and iterate draws come
    from generators derived from (seed, b), so a batch's numbers do not depend on how many steps the batch
    before it ran. With ``fixed`` (fixed randomness) the attack and the iterates see each clip's fixed draw.
    ``reuse`` (deterministic models only): any_iter takes each iterate's prediction from the attack's forward
    pass on it. ``store``: each batch is saved there once attacked, and a batch found there is taken as it is
    (``bench.batch_store``), its cost and seconds included."""
    started = time.perf_counter()
    tracker = IterateTracker(model, keep=keep, reuse=reuse)
    counted, memory = QueryCounter(model, tracker.offer if reuse else None), PeakMemory(device)
    batches = range(0, len(waves), batch_size)
    steps = int(getattr(attack, "expected_steps", 0))
    bar = tqdm(total=max(steps, 1) * len(batches), desc=desc or "attack", unit="step", disable=not progress,
               leave=False)

    def on_step(step: int, x_iter: Tensor) -> None:
        bar.update()
        tracker.observe(x_iter)

    adversarial, first_wrong, outcomes, drew, resumed = [], [], [], False, []
    memory.start()
    for b, i in enumerate(batches):
        kept = store.load(b, device) if store is not None else None
        if kept is not None:
            counted.add(kept.counts)
            memory.include(kept.peak_bytes)
            tracker.restore(kept.kept, kept.tracking_seconds)
            bar.update(max(steps, 1))
            resumed.append(kept)
        else:
            kept = _attack_batch(attack, counted, tracker, memory, waves[i : i + batch_size].to(device),
                                 labels[i : i + batch_size].to(device), seed, b, i, device, on_step, fixed)
            if store is not None:
                store.save(b, kept)
            if not steps:
                bar.update()
        drew = drew or kept.drew
        first_wrong.append(kept.first_wrong)
        adversarial.append(kept.x_adv)
        outcomes.append(kept.outcomes)
    memory.stop()
    bar.close()
    x_adv = torch.cat(adversarial) if adversarial else waves.to(device)
    wrong = torch.cat(first_wrong) if first_wrong else torch.zeros(0, dtype=torch.long)
    cost = {"queries": counted.summary(len(waves)), "memory": memory.summary(min(batch_size, len(waves)))}
    earlier = sum(k.attack_seconds + k.tracking_seconds for k in resumed)
    seconds = time.perf_counter() - started + earlier - tracker.seconds
    return AttackRun(x_adv, wrong, cost, seconds, tracker, drew, attack.merge_outcomes(outcomes), len(resumed),
                     earlier)


def _attack_batch(attack: Attack, counted: QueryCounter, tracker: IterateTracker, memory: PeakMemory, x: Tensor,
                  y: Tensor, seed: int, b: int, i: int, device: torch.device,
                  on_step: Callable[[int, Tensor], None], fixed: FixedDraw | None) -> AttackedBatch:
    """Attack batch b (clips from ``i``) with its own generators; what it leaves, as a ``BatchStore`` keeps it."""
    started, tracked, before_counts = time.perf_counter(), tracker.seconds, counted.counts()
    tracker.begin(x, y, make_generator(seed, "eval-iter", b, device=device),
                  fixed.rows(i, i + len(x)) if fixed is not None else None)
    attack_gen = make_generator(seed, "attack", b, device=device)
    before = attack_gen.get_state()
    attacked = fixed.rows(i, i + len(x), counted) if fixed is not None else counted
    x_adv = attack.perturb(attacked, x, y, attack_gen, on_step=on_step).detach()
    drew = not torch.equal(before, attack_gen.get_state())
    first_wrong = tracker.end(x_adv)
    tracking = tracker.seconds - tracked
    counts = {k: v - before_counts[k] for k, v in counted.counts().items()}
    return AttackedBatch(x_adv, first_wrong, tracker.last_kept(), attack.take_outcomes(), counts, drew,
                         time.perf_counter() - started - tracking, tracking, memory.peak_so_far())
