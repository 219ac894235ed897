"""Evaluation protocols and per-cell checks: all protocols from one attack run, stored per sample."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from attacks.pgd import PGD
from bench.data.base import ClipSet
from bench.errors import BadParameter
from bench.evaluate import evaluate_cell
from bench.model import DefendedModel
from bench.protocols import IterateTracker, Protocols, accuracies, protocol_order, score
from bench.sanity import snr_db, snr_summary
from defenses.base import Defense
from defenses.none import NoDefense
from tests.test_attacks_contract import CLASSES, WaveNoise, labels_of, tiny_mel_net, toy_model, toy_waves

CPU = torch.device("cpu")


def test_protocol_scores_from_one_set_of_draws():
    preds = torch.tensor([[0, 1, 0], [0, 1, 2], [1, 1, 2], [1, 1, 1]])  # (draws, clips)
    labels = torch.tensor([0, 1, 2])
    out = score(preds, labels, Protocols(draws=4, vote=4))
    assert out["final"].tolist() == [True, True, False]
    assert out["vote"].tolist() == [False, True, True]  # clip 0: a 2-2 tie loses
    assert out["correct_draws"].tolist() == [2, 4, 2]
    assert score(preds, labels, Protocols(draws=4, vote=3))["vote"].tolist() == [True, True, True]
    acc = accuracies(out, torch.tensor([True, False, False]), Protocols(4, 4))
    assert acc == {"final@1": pytest.approx(200 / 3, abs=1e-3), "vote@4": pytest.approx(200 / 3, abs=1e-3),
                   "avg@4": pytest.approx(100 * 8 / 12, abs=1e-3), "worst@4": pytest.approx(100 / 3, abs=1e-3),
                   "any_iter": pytest.approx(100 / 3, abs=1e-3)}
    for bad in ({"draws": 0}, {"draws": 3, "vote": 4}, {"draws": 3, "vote": 0}):
        with pytest.raises(BadParameter):
            Protocols(**bad)


class Threshold(torch.nn.Module):
    """Class 1 when the mean sample is positive, else class 0; deterministic."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([-m, m], 1)


def test_any_iter_counts_iteration_zero_and_keeps_the_first_wrong_iterate():
    tracker = IterateTracker(Threshold(), torch.Generator())
    y = torch.tensor([1, 1, 0])
    means = [[1.0, -1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]  # iterate 0 (clean), 1, 2, 3
    waves = [torch.tensor(m).view(3, 1, 1).expand(3, 1, 4).clone() for m in means]
    tracker.begin(waves[0], y)
    for w in waves[1:]:
        tracker.observe(w)
    tracker.observe(waves[0][:2])  # a subset cannot be matched to clips: ignored
    assert tracker.end(waves[-1]).tolist() == [2, 0, 2]
    silent = IterateTracker(Threshold(), torch.Generator())
    silent.begin(waves[1], y)
    assert silent.end(waves[2]).tolist() == [1, -1, 1]  # no iterate reported: the final examples are iterate 1


class SpyPGD(PGD):
    calls = 0

    def perturb(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        SpyPGD.calls += 1
        return super().perturb(*args, **kwargs)


def _cell(model: DefendedModel, attack: Any, seed: int = 0, draws: int = 6, vote: int = 5) -> dict[str, Any]:
    x = toy_waves(10)
    clips = ClipSet([f"c{i}" for i in range(10)], x, labels_of(model, x), tuple(CLASSES))
    return evaluate_cell(model, attack, clips, seed, 4, CPU, progress=False, protocols=Protocols(draws, vote))


def test_every_protocol_comes_from_one_attack_run_and_is_stored_per_sample():
    SpyPGD.calls = 0
    model = toy_model(sigma=0.05)
    record = _cell(model, SpyPGD(eps=0.01, steps=3))
    assert SpyPGD.calls == 3  # one perturb per batch of 4 over 10 clips, for all five protocols
    ps, protocols = record["per_sample"], record["protocols"]
    assert sorted(protocols, key=protocol_order) == ["final@1", "vote@5", "avg@6", "worst@6", "any_iter"]
    assert record["robust_acc"] == protocols["final@1"] == pytest.approx(10 * sum(ps["robust"]))
    assert protocols["vote@5"] == pytest.approx(10 * sum(ps["robust_vote"]))
    assert protocols["avg@6"] == pytest.approx(100 * sum(ps["robust_draws"]) / 60, abs=1e-3)
    assert protocols["worst@6"] == pytest.approx(10 * sum(d == 6 for d in ps["robust_draws"]))
    assert protocols["any_iter"] == pytest.approx(10 * sum(ps["robust_any_iter"]))
    assert ps["robust_any_iter"] == [int(w < 0) for w in ps["first_wrong_iter"]]
    assert all(-1 <= w <= 3 for w in ps["first_wrong_iter"])  # iterates 0 (clean) to 3
    assert protocols["worst@6"] <= protocols["avg@6"]
    assert all(len(v) == 10 for v in ps.values())
    assert record["queries"] == {"total": 30, "per_clip": 3.0}  # 3 steps x 10 clips, EOT 1
    again = _cell(model, SpyPGD(eps=0.01, steps=3))
    assert {k: again[k] for k in ("protocols", "per_sample", "checks")} == \
        {k: record[k] for k in ("protocols", "per_sample", "checks")}
    other = _cell(model, SpyPGD(eps=0.01, steps=3), seed=1)
    assert other["per_sample"] != record["per_sample"]


class Quantize(Defense):
    """Rounds the waveform: deterministic, and its gradient is zero almost everywhere."""

    def purify_wave(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.round(wave * 4) / 4


class SecretlyRandom(WaveNoise):
    stochastic = False


def test_checks_flag_randomness_without_eot_and_unusable_gradients():
    noisy = _cell(toy_model(sigma=0.05), PGD(eps=0.01, steps=1))["checks"]
    assert noisy["randomized"] and any("EOT = 1" in w for w in noisy["warnings"])
    with_eot = _cell(toy_model(sigma=0.05), PGD(eps=0.01, steps=1, eot=2))["checks"]
    assert with_eot["randomized"] and not with_eot["warnings"]
    bare = _cell(DefendedModel(tiny_mel_net(), NoDefense()), PGD(eps=0.01, steps=1))["checks"]
    assert not bare["randomized"] and not bare["warnings"]
    assert bare["input_gradient"] == {"checked": 4, "zero": 0, "non_finite": 0} and bare["non_finite_logits"] == 0
    lying = _cell(DefendedModel(tiny_mel_net(), SecretlyRandom(0.05)), PGD(eps=0.01, steps=1, eot=2))["checks"]
    assert lying["warnings"] == ["the defense declares itself deterministic but its forward passes differ"]
    masked = _cell(DefendedModel(tiny_mel_net(), Quantize()), PGD(eps=0.01, steps=1))["checks"]
    assert masked["input_gradient"]["zero"] == 4 and any("gradient is zero" in w for w in masked["warnings"])


def test_snr_is_signal_over_perturbation_in_db():
    x = torch.full((3, 1, 100), 0.5)
    delta = torch.stack([torch.full((1, 100), 0.005), torch.full((1, 100), 0.05), torch.zeros(1, 100)])
    snr = snr_db(x, x + delta)
    assert snr[:2].tolist() == pytest.approx([40.0, 20.0]) and snr[2].item() == math.inf
    assert snr_summary(snr) == {"mean": 30.0, "min": 20.0, "unperturbed": 1}
    record = _cell(toy_model(), PGD(eps=0.01, steps=2))
    finite = [v for v in record["per_sample"]["snr_db"] if v is not None]
    assert record["checks"]["snr_db"]["min"] == pytest.approx(min(finite), abs=1e-3)
