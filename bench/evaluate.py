"""One cell's measurement: clean accuracy (bare and defended), the attack, its checks, robust accuracy.

Every prediction of the defended model is one forward pass with fresh randomness. The attack runs once; its
final examples, and every iterate the cell asks to score (``score_at``: PGD-10, 30, ... from one PGD-100
trajectory), are classified ``draws`` times with fresh randomness and the predictions stored, so any
protocol (``bench.protocols``) can be scored from the record later; a deterministic defense is drawn once.
The record also holds the default protocols' scores, for the run's summary. The attack, the checks, the
clean evaluation, the per-iterate (any_iter) and the final evaluation draw from separate generators derived
from the cell's seed (the attack's and the per-iterate ones also from the batch index), so none shifts
another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from attacks.base import Attack, check_budget, enforce_budget
from bench import sanity
from bench.data.base import ClipSet
from bench.fixed_draws import FixedDraw, fixed_seeds
from bench.iterates import IterateTracker, draw_predictions
from bench.memory import PeakMemory
from bench.model import DefendedModel
from bench.protocols import HEADLINE, Draws, Protocol, default_protocols
from bench.queries import QueryCounter
from bench.seeding import make_generator

CHECK_CLIPS = 32  # clips the randomness and gradient checks run on (the first ones)


@torch.no_grad()
def correct(model: Callable[..., Tensor], waves: Tensor, labels: Tensor, batch_size: int, device: torch.device,
            generator: torch.Generator | None = None) -> Tensor:
    """Per-sample correctness (bool, on the CPU) of ``model``'s arg-max, batched."""
    flags = []
    for i in range(0, len(waves), batch_size):
        x = waves[i : i + batch_size].to(device)
        logits = model(x, generator=generator) if generator is not None else model(x)
        flags.append(logits.argmax(1).cpu() == labels[i : i + batch_size])
    return torch.cat(flags) if flags else torch.zeros(0, dtype=torch.bool)


def _pct(flags: Tensor) -> float:
    return round(100.0 * flags.float().mean().item(), 4) if len(flags) else float("nan")


def _rounded(values: Tensor) -> list[float | None]:
    return [float(f"{v:.6g}") if v == v and abs(v) != float("inf") else None for v in values.tolist()]


def pre_attack_checks(model: DefendedModel, x: Tensor, y: Tensor, seed: int, device: torch.device) -> dict[str, Any]:
    """Randomness and input-gradient checks on the first batch of clean clips."""
    generator = make_generator(seed, "checks", device=device)
    x, y = x.to(device), y.to(device)
    return {"randomized": sanity.is_randomized(model, x, generator),
            "input_gradient": sanity.input_gradient(model, x, y, generator)}


def run_attack(model: DefendedModel, attack: Attack, waves: Tensor, labels: Tensor, seed: int, batch_size: int,
               device: torch.device, progress: bool, desc: str, keep: Sequence[int] = (),
               fixed: FixedDraw | None = None) -> tuple[Tensor, Tensor, dict[str, Any], float, IterateTracker]:
    """The attack over every batch: adversarial examples, first wrong iterate per clip (any_iter), what the
    attack cost (the record's ``queries``: queries, classifications and gradients through the defended model,
    ``bench.queries``; and ``memory``: its peak on CUDA, ``bench.memory``), its seconds (iterate scoring
    excluded) and the tracker holding the iterates ``keep`` asks for. Batch b's attack and iterate draws come
    from generators derived from (seed, b), so a batch's numbers do not depend on how many steps the batch
    before it ran. With ``fixed`` (fixed randomness) the attack and the iterates see each clip's fixed draw."""
    started = time.perf_counter()
    counted, memory = QueryCounter(model), PeakMemory(device)
    tracker = IterateTracker(model, keep=keep)
    batches = range(0, len(waves), batch_size)
    steps = int(getattr(attack, "expected_steps", 0))
    bar = tqdm(total=max(steps, 1) * len(batches), desc=desc or "attack", unit="step", disable=not progress,
               leave=False)

    def on_step(step: int, x_iter: Tensor) -> None:
        bar.update()
        tracker.observe(x_iter)

    adversarial, first_wrong = [], []
    memory.start()
    for b, i in enumerate(batches):
        x, y = waves[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        tracker.begin(x, y, make_generator(seed, "eval-iter", b, device=device),
                      fixed.rows(i, i + len(x)) if fixed is not None else None)
        attack_gen = make_generator(seed, "attack", b, device=device)
        attacked = fixed.rows(i, i + len(x), counted) if fixed is not None else counted
        x_adv = attack.perturb(attacked, x, y, attack_gen, on_step=on_step).detach()
        first_wrong.append(tracker.end(x_adv))
        if not steps:
            bar.update()
        adversarial.append(x_adv)
    memory.stop()
    bar.close()
    x_adv = torch.cat(adversarial) if adversarial else waves.to(device)
    wrong = torch.cat(first_wrong) if first_wrong else torch.zeros(0, dtype=torch.long)
    cost = {"queries": counted.summary(len(waves)), "memory": memory.summary(min(batch_size, len(waves)))}
    return x_adv, wrong, cost, time.perf_counter() - started - tracker.seconds, tracker


def score_examples(model: DefendedModel, attack: Attack, x_adv: Tensor, x_clean: Tensor, labels: Tensor,
                   first_wrong: Tensor, step: int | None, seed: int, batch_size: int, device: torch.device,
                   draws: int, repeatable: bool, protocols: Sequence[Protocol]) -> dict[str, Any]:
    """Check the budget of ``x_adv`` (raises ``BudgetViolation``), classify it ``draws`` times (once when
    ``repeatable``) with the final evaluation's fresh-draw stream, and score ``protocols`` from those
    predictions: the same code scores the final examples and every kept iterate (``step``)."""
    x_adv = x_adv.to(device)
    budget = check_budget(x_adv, x_clean, attack.eps, attack.norm)
    enforce_budget(budget, attack.label())
    preds, finite = draw_predictions(model, x_adv, batch_size, device, make_generator(seed, "eval-adv", device=device),
                                     1 if repeatable else draws)
    stored = Draws(preds, labels, repeatable, first_wrong, step)
    delta = (x_adv.double() - x_clean.double()).flatten(1).cpu()
    return {
        "protocols": {p.name: p.accuracy(stored) for p in protocols},
        "draws": {"predictions": preds.tolist(), "repeatable": repeatable},
        "per_sample": {
            "robust": (preds[0] == labels).int().tolist(),
            "linf": _rounded(delta.abs().amax(1)),
            "l2": _rounded(delta.norm(dim=1)),
        },
        "budget": budget.as_dict(),
        "non_finite_logits": int((~finite).sum()),
    }


def evaluate_cell(model: DefendedModel, attack: Attack, clips: ClipSet, seed: int, batch_size: int,
                  device: torch.device, progress: bool = True, desc: str = "", draws: int = 10,
                  vote: int | None = None, score_at: Sequence[int] = ()) -> dict[str, Any]:
    """Measure one cell; raises ``BudgetViolation`` when any adversarial example leaves its budget.

    Each example is classified ``draws`` times with fresh randomness, once when the defense is deterministic
    (declared so, and its forward passes agree); ``vote`` is the summary's vote@M (default: every draw).

    ``score_at`` lists step counts k < steps at which the attack's iterate is also scored, exactly as the
    final examples are (budget check, protocols, per-sample flags): PGD-k from the one PGD-K trajectory.
    Only for attacks whose prefixes are the shorter attacks (``Attack.prefix_consistent``).
    """
    started = time.perf_counter()
    waves, labels = clips.waves, clips.labels
    bare = lambda x: model.classifier(model.frontend(x))  # noqa: E731 - the undefended victim
    clean_victim = correct(bare, waves, labels, batch_size, device)
    clean = correct(model, waves, labels, batch_size, device, make_generator(seed, "eval-clean", device=device))
    first = min(batch_size, CHECK_CLIPS)
    checks = pre_attack_checks(model, waves[:first], labels[:first], seed, device)

    # fixed randomness: the attack, its iterates and the final evaluation see one known draw per clip
    fixed = FixedDraw(model, fixed_seeds(seed, clips.ids)) if attack.fixed_randomness else None
    attack.take_outcomes()  # nothing left over from another cell
    x_adv, first_wrong, cost, attack_seconds, tracker = run_attack(
        model, attack, waves, labels, seed, batch_size, device, progress, desc, keep=score_at, fixed=fixed)
    outcomes = attack.take_outcomes()
    x_clean = waves.to(device)
    repeatable = fixed is not None or (not getattr(model, "stochastic", True) and not checks["randomized"])
    scored_model = fixed if fixed is not None else model
    protocols = default_protocols(draws, vote)
    final = score_examples(scored_model, attack, x_adv, x_clean, labels, first_wrong, None, seed, batch_size,
                           device, draws, repeatable, protocols)
    scored_steps = []
    for k in score_at:
        scored = score_examples(scored_model, attack, tracker.iterate(k), x_clean, labels, first_wrong, k, seed,
                                batch_size, device, draws, repeatable, protocols)
        scored_steps.append({"step": k, "label": attack.truncated(k).label(), **scored})
    snr = sanity.snr_db(x_clean, x_adv)
    checks.update({"non_finite_logits": final["non_finite_logits"], "snr_db": sanity.snr_summary(snr)})
    checks["warnings"] = sanity.warnings(checks, bool(getattr(model, "stochastic", False)),
                                         attack.draws_per_gradient, attack.gradient_mode)
    n = len(clips)
    record = {
        "clean_acc_victim": _pct(clean_victim),
        "clean_acc": _pct(clean),
        "robust_acc": final["protocols"][HEADLINE],
        "protocols": final["protocols"],
        "n": n,
        "draws": final["draws"],
        "per_sample": {
            "clean_victim": clean_victim.int().tolist(),
            "clean": clean.int().tolist(),
            **final["per_sample"],
            "first_wrong_iter": first_wrong.tolist(),
            "snr_db": _rounded(snr),
        },
        "budget": final["budget"],
        "checks": checks,
        "queries": cost["queries"],
        "memory": cost["memory"],
        "seconds": {"attack": round(attack_seconds, 3), "total": round(time.perf_counter() - started, 3)},
    }
    if scored_steps:
        record["scored_steps"] = scored_steps
    if outcomes:
        record["members"] = outcomes
    return record
