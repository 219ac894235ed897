"""One cell's measurement: clean accuracy (bare and defended), the attack, its checks, robust accuracy.

Every prediction of the defended model is one forward pass with fresh randomness. The attack runs once; its
final examples, and every iterate the cell asks to score (``score_at``: PGD-10, 30, ... from one PGD-100
trajectory), are classified ``draws`` times with fresh randomness and the predictions stored, so any
protocol (``bench.protocols``) can be scored from the record later; a deterministic defense is drawn once.
The record also holds the default protocols' scores, for the run's summary. The attack, the checks, the
clean evaluation, the per-iterate (any_iter) and the final evaluation draw from separate generators derived
from the cell's seed (the attack's and the per-iterate ones also from the batch index), so none shifts
another.

No work a deterministic model makes identical is done twice: a deterministic defense is classified once per
example, its any_iter predictions are the attack's own forward passes (``IterateTracker``'s reuse), and the
record says where the seconds went (``seconds``: attack, tracking, scoring, checks, clean, total).
Work a cell shares with the other seeds of its run (``SeedShared``) is done once per run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, check_budget, enforce_budget
from bench import sanity
from bench.attack_run import run_attack
from bench.batch_store import BatchStore
from bench.data.base import ClipSet
from bench.fixed_draws import FixedDraw, fixed_seeds
from bench.iterates import draw_predictions
from bench.model import DefendedModel
from bench.protocols import HEADLINE, Draws, Protocol, default_protocols
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


def pre_attack_checks(model: DefendedModel, x: Tensor, y: Tensor, seed: int, device: torch.device,
                      first: Tensor | None = None) -> dict[str, Any]:
    """Randomness and input-gradient checks on the first batch of clean clips; ``first``: logits of ``x`` a
    deterministic model already gave (its first randomness pass, saved)."""
    generator = make_generator(seed, "checks", device=device)
    x, y = x.to(device), y.to(device)
    return {"randomized": sanity.is_randomized(model, x, generator, first=first),
            "input_gradient": sanity.input_gradient(model, x, y, generator)}


def score_examples(model: DefendedModel, attack: Attack, x_adv: Tensor, x_clean: Tensor, labels: Tensor,
                   first_wrong: Tensor, step: int | None, seed: int, batch_size: int, device: torch.device,
                   draws: int, repeatable: bool, protocols: Sequence[Protocol]) -> dict[str, Any]:
    """Check the budget of ``x_adv`` (raises ``BudgetViolation``), classify it ``draws`` times (once when
    ``repeatable``) with the final evaluation's fresh-draw stream, and score ``protocols`` from those
    predictions: the same code scores the final examples and every kept iterate (``step``)."""
    x_adv = x_adv.to(device)
    eps = attack.budget_eps(x_clean)
    budget = check_budget(x_adv, x_clean, eps, attack.norm)
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
            # a budget relative to each clip (eps_db): every clip's own radius
            **({"eps": _rounded(eps.double().cpu())} if isinstance(eps, Tensor) else {}),
        },
        "budget": budget.as_dict(),
        "non_finite_logits": int((~finite).sum()),
    }


@dataclass
class SeedShared:
    """Work the cells of one run share, because it does not depend on the seed: the bare victim's clean
    flags (deterministic), and a whole measured cell when nothing in it drew randomness (a deterministic
    defense, checked so, under an attack that drew nothing from its generator): every seed's record is then
    that cell's (``bench.runner`` copies it, saying so in ``seconds``)."""

    clean_victim: Tensor | None = None
    cell: dict[str, Any] | None = None
    cell_seed: int | None = None


def _clean(model: DefendedModel, waves: Tensor, labels: Tensor, seed: int, batch_size: int, device: torch.device,
           shared: SeedShared, first: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """Clean correctness of the bare victim (once per run) and of the defended model, and for a deterministic
    model the logits of the first ``first`` clips (the randomness check's first pass; 0: none kept)."""
    if shared.clean_victim is None:
        bare = lambda x: model.classifier(model.frontend(x))  # noqa: E731 - the undefended victim
        shared.clean_victim = correct(bare, waves, labels, batch_size, device)
    generator = make_generator(seed, "eval-clean", device=device)
    if getattr(model, "stochastic", True) or not 0 < first <= batch_size:
        return shared.clean_victim, correct(model, waves, labels, batch_size, device, generator), None
    kept: list[Tensor] = []

    def classify(x: Tensor, generator: torch.Generator) -> Tensor:
        logits = model(x, generator=generator)
        if not kept:
            kept.append(logits[:first])
        return logits

    flags = correct(classify, waves, labels, batch_size, device, generator)
    return shared.clean_victim, flags, kept[0] if kept else None


def evaluate_cell(model: DefendedModel, attack: Attack, clips: ClipSet, seed: int, batch_size: int,
                  device: torch.device, progress: bool = True, desc: str = "", draws: int = 10,
                  vote: int | None = None, score_at: Sequence[int] = (), shared: SeedShared | None = None,
                  shortcuts: bool = True, store: BatchStore | None = None) -> dict[str, Any]:
    """Measure one cell; raises ``BudgetViolation`` when any adversarial example leaves its budget.

    Each example is classified ``draws`` times with fresh randomness, once when the defense is deterministic
    (declared so, and its forward passes agree); ``vote`` is the summary's vote@M (default: every draw).

    ``score_at`` lists step counts k < steps at which the attack's iterate is also scored, exactly as the
    final examples are (budget check, protocols, per-sample flags): PGD-k from the one PGD-K trajectory.
    Only for attacks whose prefixes are the shorter attacks (``Attack.prefix_consistent``).

    ``shared`` carries the run's seed-free work between its cells (and is filled by this one);
    ``shortcuts=False`` does every pass again (the same record; tests check that it is).
    ``store`` keeps each attacked batch until the record is written, so an interrupted cell resumes after its
    last attacked batch (``bench.batch_store``); the record then says how many batches it took from there.
    """
    started = time.perf_counter()
    shared = shared if shared is not None and shortcuts else SeedShared()
    waves, labels = clips.waves, clips.labels
    first = min(batch_size, CHECK_CLIPS)
    clean_victim, clean, first_logits = _clean(model, waves, labels, seed, batch_size, device, shared,
                                               first if shortcuts else 0)
    seconds = {"clean": time.perf_counter() - started}
    mark = time.perf_counter()
    checks = pre_attack_checks(model, waves[:first], labels[:first], seed, device, first_logits)
    seconds["checks"] = time.perf_counter() - mark

    # fixed randomness: the attack, its iterates and the final evaluation see one known draw per clip
    fixed = FixedDraw(model, fixed_seeds(seed, clips.ids)) if attack.fixed_randomness else None
    deterministic = not getattr(model, "stochastic", True) and not checks["randomized"]
    attack.take_outcomes()  # nothing left over from another cell
    ran = run_attack(model, attack, waves, labels, seed, batch_size, device, progress, desc, keep=score_at,
                     fixed=fixed, reuse=shortcuts and deterministic and fixed is None, store=store)
    seconds.update(attack=ran.seconds, tracking=ran.tracker.seconds)
    mark = time.perf_counter()
    outcomes = ran.outcomes
    x_clean = waves.to(device)
    repeatable = fixed is not None or deterministic
    scored_model = fixed if fixed is not None else model
    protocols = default_protocols(draws, vote)
    final = score_examples(scored_model, attack, ran.x_adv, x_clean, labels, ran.first_wrong, None, seed,
                           batch_size, device, draws, repeatable, protocols)
    scored_steps = []
    for k in score_at:
        scored = score_examples(scored_model, attack, ran.tracker.iterate(k), x_clean, labels, ran.first_wrong, k,
                                seed, batch_size, device, draws, repeatable, protocols)
        scored_steps.append({"step": k, "label": attack.truncated(k).label(), **scored})
    snr = sanity.snr_db(x_clean, ran.x_adv)
    peak, rms = sanity.clip_levels(x_clean)
    checks.update({"non_finite_logits": final["non_finite_logits"], "snr_db": sanity.snr_summary(snr),
                   "levels": sanity.level_summary(peak, rms)})
    checks["warnings"] = sanity.warnings(checks, bool(getattr(model, "stochastic", False)),
                                         attack.draws_per_gradient, attack.gradient_mode)
    seconds["scoring"] = time.perf_counter() - mark
    record = {
        "clean_acc_victim": _pct(clean_victim),
        "clean_acc": _pct(clean),
        "robust_acc": final["protocols"][HEADLINE],
        "protocols": final["protocols"],
        "n": len(clips),
        "draws": final["draws"],
        "per_sample": {
            "clean_victim": clean_victim.int().tolist(),
            "clean": clean.int().tolist(),
            **final["per_sample"],
            "first_wrong_iter": ran.first_wrong.tolist(),
            "snr_db": _rounded(snr),
            "clip_peak": _rounded(peak),
            "clip_rms": _rounded(rms),
        },
        "budget": final["budget"],
        "checks": checks,
        "queries": ran.cost["queries"],
        "memory": ran.cost["memory"],
        "seconds": seconds,
    }
    if scored_steps:
        record["scored_steps"] = scored_steps
    if outcomes:
        record["members"] = outcomes
    if ran.resumed:  # batches an earlier, interrupted process attacked: their seconds are in attack and total
        record["resumed_batches"] = ran.resumed
    seconds["total"] = time.perf_counter() - started + ran.resumed_seconds
    seconds.update({k: round(v, 3) for k, v in seconds.items()})
    if shortcuts and deterministic and fixed is None and not ran.drew:
        shared.cell, shared.cell_seed = record, seed
    return record
