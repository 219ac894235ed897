"""One cell's measurement: clean accuracy (bare and defended), the attack, its budget check, robust accuracy.

Protocol ``final@1``: every prediction of the defended model is one forward pass with fresh randomness,
and robust accuracy counts the final adversarial examples classified correctly. The attack, the clean
evaluation and the adversarial evaluation draw from separate generators derived from the cell's seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from attacks.base import Attack, check_budget, enforce_budget
from bench.data.base import ClipSet
from bench.model import DefendedModel
from bench.seeding import make_generator

PROTOCOL = "final@1"


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


def evaluate_cell(model: DefendedModel, attack: Attack, clips: ClipSet, seed: int, batch_size: int,
                  device: torch.device, progress: bool = True, desc: str = "") -> dict[str, Any]:
    """Measure one cell; raises ``BudgetViolation`` when any adversarial example leaves its budget."""
    started = time.perf_counter()
    waves, labels = clips.waves, clips.labels
    bare = lambda x: model.classifier(model.frontend(x))  # noqa: E731 - the undefended victim
    clean_victim = correct(bare, waves, labels, batch_size, device)
    clean = correct(model, waves, labels, batch_size, device, make_generator(seed, "eval-clean", device=device))

    t_attack = time.perf_counter()
    attack_gen = make_generator(seed, "attack", device=device)
    steps = getattr(attack, "steps", None)
    batches = range(0, len(waves), batch_size)
    bar = tqdm(total=(steps or 1) * len(batches), desc=desc or "attack", unit="step", disable=not progress,
               leave=False)
    adversarial = []
    for i in batches:
        x, y = waves[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        x_adv = attack.perturb(model, x, y, attack_gen, on_step=(lambda s, _: bar.update()) if steps else None)
        if not steps:
            bar.update()
        adversarial.append(x_adv.detach())
    bar.close()
    x_adv = torch.cat(adversarial)
    attack_seconds = time.perf_counter() - t_attack

    x_clean = waves.to(device)
    budget = check_budget(x_adv, x_clean, attack.eps, attack.norm)
    enforce_budget(budget, attack.label())
    robust = correct(model, x_adv, labels, batch_size, device, make_generator(seed, "eval-adv", device=device))
    delta = (x_adv.double() - x_clean.double()).flatten(1).cpu()
    return {
        "clean_acc_victim": _pct(clean_victim),
        "clean_acc": _pct(clean),
        "robust_acc": _pct(robust),
        "n": len(clips),
        "per_sample": {
            "clean_victim": clean_victim.int().tolist(),
            "clean": clean.int().tolist(),
            "robust": robust.int().tolist(),
            "linf": [float(f"{v:.6g}") for v in delta.abs().amax(1).tolist()],
            "l2": [float(f"{v:.6g}") for v in delta.norm(dim=1).tolist()],
        },
        "budget": budget.as_dict(),
        "seconds": {"attack": round(attack_seconds, 3), "total": round(time.perf_counter() - started, 3)},
    }
