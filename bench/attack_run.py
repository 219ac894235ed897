"""The attack over a cell's clips, batch by batch, with its iterates watched (``bench.iterates``) and its cost
counted (``bench.queries``, ``bench.memory``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from attacks.base import Attack
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
    iterates asked for), and whether the attack drew anything from its generators."""

    x_adv: Tensor
    first_wrong: Tensor
    cost: dict[str, Any]
    seconds: float
    tracker: IterateTracker
    drew: bool


def run_attack(model: DefendedModel, attack: Attack, waves: Tensor, labels: Tensor, seed: int, batch_size: int,
               device: torch.device, progress: bool, desc: str, keep: Sequence[int] = (),
               fixed: FixedDraw | None = None, reuse: bool = False) -> AttackRun:
    """The attack over every batch: adversarial examples, first wrong iterate per clip (any_iter), what the
    attack cost (the record's ``queries``: queries, classifications and gradients through the defended model,
    ``bench.queries``; and ``memory``: its peak on CUDA, ``bench.memory``), its seconds (iterate tracking
    excluded) and the tracker holding the iterates ``keep`` asks for. Batch b's attack and iterate draws come
    from generators derived from (seed, b), so a batch's numbers do not depend on how many steps the batch
    before it ran. With ``fixed`` (fixed randomness) the attack and the iterates see each clip's fixed draw.
    ``reuse`` (deterministic models only): any_iter takes each iterate's prediction from the attack's forward
    pass on it."""
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

    adversarial, first_wrong, drew = [], [], False
    memory.start()
    for b, i in enumerate(batches):
        x, y = waves[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        tracker.begin(x, y, make_generator(seed, "eval-iter", b, device=device),
                      fixed.rows(i, i + len(x)) if fixed is not None else None)
        attack_gen = make_generator(seed, "attack", b, device=device)
        before = attack_gen.get_state()
        attacked = fixed.rows(i, i + len(x), counted) if fixed is not None else counted
        x_adv = attack.perturb(attacked, x, y, attack_gen, on_step=on_step).detach()
        drew = drew or not torch.equal(before, attack_gen.get_state())
        first_wrong.append(tracker.end(x_adv))
        if not steps:
            bar.update()
        adversarial.append(x_adv)
    memory.stop()
    bar.close()
    x_adv = torch.cat(adversarial) if adversarial else waves.to(device)
    wrong = torch.cat(first_wrong) if first_wrong else torch.zeros(0, dtype=torch.long)
    cost = {"queries": counted.summary(len(waves)), "memory": memory.summary(min(batch_size, len(waves)))}
    return AttackRun(x_adv, wrong, cost, time.perf_counter() - started - tracker.seconds, tracker, drew)
