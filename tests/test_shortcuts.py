"""The evaluation's shortcuts change no number: any_iter from the attack's own forward passes, the checks' first
pass from the clean pass, the bare victim once per run, a random-free cell once for every seed."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from attacks.apgd import APGD
from attacks.pgd import PGD
from bench.attack_run import run_attack
from bench.data.base import ClipSet
from bench.evaluate import SeedShared, evaluate_cell
from bench.model import DefendedModel
from defenses.none import NoDefense
from tests.test_attacks_contract import CLASSES, labels_of, tiny_mel_net, toy_model, toy_waves

CPU = torch.device("cpu")


def _clips(model: DefendedModel, n: int = 10) -> ClipSet:
    x = toy_waves(n)
    return ClipSet([f"c{i}" for i in range(n)], x, labels_of(model, x), tuple(CLASSES))


def _without_seconds(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "seconds"}


def _deterministic() -> DefendedModel:
    return DefendedModel(tiny_mel_net("slim"), NoDefense())


ATTACKS = {
    "pgd": lambda: PGD(eps=0.01, steps=4),
    "pgd random start": lambda: PGD(eps=0.01, steps=4, random_start=True),
    "pgd eot": lambda: PGD(eps=0.01, steps=3, eot=2),
    "apgd": lambda: APGD(eps=0.01, steps=4),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("randomized", [False, True], ids=["deterministic", "randomized"])
def test_shortcuts_give_the_same_record_as_every_pass(attack: str, randomized: bool):
    model = toy_model(sigma=0.05) if randomized else _deterministic()
    clips = _clips(model)
    for seed in (0, 1):
        fast = evaluate_cell(model, ATTACKS[attack](), clips, seed, 4, CPU, progress=False, draws=3,
                             shared=SeedShared(), score_at=(2,) if attack.startswith("pgd") else ())
        slow = evaluate_cell(model, ATTACKS[attack](), clips, seed, 4, CPU, progress=False, draws=3,
                             shortcuts=False, score_at=(2,) if attack.startswith("pgd") else ())
        assert _without_seconds(fast) == _without_seconds(slow)
        assert set(fast["seconds"]) == {"clean", "checks", "attack", "tracking", "scoring", "total"}


def test_any_iter_takes_the_attacks_own_forward_pass_on_a_deterministic_model():
    model = _deterministic()
    clips = _clips(model, 8)
    args = (model, PGD(eps=0.01, steps=5), clips.waves, clips.labels, 0, 4, CPU, False, "")
    reused = run_attack(*args, reuse=True)
    assert reused.tracker.reused == 2 * 5  # iterates 0..4 of both batches: the attack ran the model on each
    every = run_attack(*args)
    assert every.tracker.reused == 0 and torch.equal(reused.first_wrong, every.first_wrong)
    assert torch.equal(reused.x_adv, every.x_adv) and not reused.drew
    assert run_attack(model, PGD(eps=0.01, steps=2, random_start=True), *args[2:], reuse=True).drew


def test_a_cell_without_randomness_is_shared_by_every_seed_and_one_with_it_is_not():
    model = _deterministic()
    clips = _clips(model, 6)
    shared = SeedShared()
    record = evaluate_cell(model, PGD(eps=0.01, steps=2), clips, 0, 4, CPU, progress=False, shared=shared)
    assert shared.cell is record and shared.cell_seed == 0 and shared.clean_victim is not None
    for attack in (PGD(eps=0.01, steps=2, random_start=True), PGD(eps=0.01, steps=2)):
        other = SeedShared()
        evaluate_cell(toy_model(sigma=0.05), attack, _clips(toy_model(sigma=0.05), 6), 0, 4, CPU, progress=False,
                      shared=other)
        assert other.cell is None  # a randomized defense: every seed is its own cell
    drawn = SeedShared()
    evaluate_cell(model, PGD(eps=0.01, steps=2, random_start=True), clips, 0, 4, CPU, progress=False, shared=drawn)
    assert drawn.cell is None  # the attack drew its start from the seed
