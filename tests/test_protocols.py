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
from bench.iterates import IterateTracker
from bench.model import DefendedModel
from bench.protocols import Draws, default_protocols, parse_protocol, protocol_order
from bench.report.scores import per_clip, record_scores
from bench.sanity import snr_db, snr_summary
from defenses.base import Defense
from defenses.none import NoDefense
from tests.test_attacks_contract import CLASSES, WaveNoise, labels_of, tiny_mel_net, toy_model, toy_waves

CPU = torch.device("cpu")


def test_protocol_scores_from_one_set_of_draws():
    preds = torch.tensor([[0, 1, 0], [0, 1, 2], [1, 1, 2], [1, 1, 1]])  # (draws, clips)
    labels = torch.tensor([0, 1, 2])
    draws = Draws(preds, labels, repeatable=False, first_wrong=torch.tensor([-1, 0, 3]))
    robust = {name: parse_protocol(name).robust(draws).tolist() for name in ("final@1", "vote@4", "avg@4")}
    assert robust["final@1"] == [True, True, False]
    assert robust["vote@4"] == [False, True, True]  # clip 0: a 2-2 tie loses
    assert [4 * v for v in robust["avg@4"]] == [2, 4, 2]  # correct draws
    assert parse_protocol("vote@3").robust(draws).tolist() == [True, True, True]
    acc = {p.name: p.accuracy(draws) for p in default_protocols(4)}
    assert acc == {"final@1": pytest.approx(200 / 3, abs=1e-3), "vote@4": pytest.approx(200 / 3, abs=1e-3),
                   "avg@4": pytest.approx(100 * 8 / 12, abs=1e-3), "worst@4": pytest.approx(100 / 3, abs=1e-3),
                   "any_iter": pytest.approx(100 / 3, abs=1e-3)}
    for bad in ("avg@0", "vote@0", "vote", "final@2", "worst@x"):
        with pytest.raises(BadParameter):
            parse_protocol(bad)
    with pytest.raises(BadParameter):  # more draws than the record holds
        parse_protocol("worst@5").robust(draws)
    deterministic = Draws(preds[:1], labels, repeatable=True, first_wrong=torch.tensor([-1, -1, -1]))
    assert parse_protocol("worst@50").robust(deterministic).tolist() == [True, True, False]


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
    record = evaluate_cell(model, attack, clips, seed, 4, CPU, progress=False, draws=draws, vote=vote)
    return {**record, "subset": {"labels": clips.labels.tolist()}}


def test_every_protocol_comes_from_one_attack_run_and_is_stored_per_sample():
    SpyPGD.calls = 0
    model = toy_model(sigma=0.05)
    record = _cell(model, SpyPGD(eps=0.01, steps=3))
    assert SpyPGD.calls == 3  # one perturb per batch of 4 over 10 clips, for all five protocols
    ps, protocols = record["per_sample"], record["protocols"]
    assert sorted(protocols, key=protocol_order) == ["final@1", "vote@5", "avg@6", "worst@6", "any_iter"]
    assert record["robust_acc"] == protocols["final@1"] == pytest.approx(10 * sum(ps["robust"]))
    preds = torch.tensor(record["draws"]["predictions"])
    assert preds.shape == (6, 10) and not record["draws"]["repeatable"]
    correct_draws = (preds == torch.tensor(record["subset"]["labels"])).sum(0).tolist()
    assert protocols["vote@5"] == pytest.approx(10 * sum(per_clip(record, "vote@5")))
    assert protocols["avg@6"] == pytest.approx(100 * sum(correct_draws) / 60, abs=1e-3)
    assert protocols["worst@6"] == pytest.approx(10 * sum(d == 6 for d in correct_draws))
    assert protocols["any_iter"] == pytest.approx(10 * sum(per_clip(record, "any_iter")))
    assert per_clip(record, "any_iter") == [int(w < 0) for w in ps["first_wrong_iter"]]
    # the report scores the same numbers, and protocols the run did not ask for, from the stored draws
    assert record_scores(record, protocols) == protocols
    assert record_scores(record, ["vote@3", "worst@7"])["worst@7"] is None
    assert all(-1 <= w <= 3 for w in ps["first_wrong_iter"])  # iterates 0 (clean) to 3
    assert protocols["worst@6"] <= protocols["avg@6"]
    assert all(len(v) == 10 for v in ps.values())
    assert record["queries"] == {"total": 30, "per_clip": 3.0, "classifications": 0, "gradients": 30,
                                 "gradients_per_clip": 3.0, "classifier_gradients": 0}  # 3 steps x 10 clips, EOT 1
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
    assert snr_summary(snr) == {"mean": 30.0, "median": 30.0, "min": 20.0, "unperturbed": 1}
    record = _cell(toy_model(), PGD(eps=0.01, steps=2))
    finite = [v for v in record["per_sample"]["snr_db"] if v is not None]
    assert record["checks"]["snr_db"]["min"] == pytest.approx(min(finite), abs=1e-3)


def test_a_deterministic_defense_is_drawn_once_and_stands_for_any_number_of_draws():
    record = _cell(DefendedModel(tiny_mel_net(), NoDefense()), PGD(eps=0.01, steps=1), draws=6)
    assert record["draws"]["repeatable"] and len(record["draws"]["predictions"]) == 1
    p = record["protocols"]
    assert p["final@1"] == p["vote@5"] == p["avg@6"] == p["worst@6"]
    assert record_scores(record, ["worst@100"])["worst@100"] == p["final@1"]


def test_a_new_protocol_is_one_registered_class_scored_from_stored_draws(temporary_plugin):
    from bench.protocols import Protocol, hits

    class Majority(Protocol):
        """most@N: more than half of the first N draws correct (a test protocol)."""

        def __init__(self, n: int = 4):
            self.n = n

        @property
        def name(self) -> str:
            return f"most@{self.n}"

        def robust(self, draws: Draws) -> torch.Tensor:
            return (hits(draws.first(self.n, self.name), draws.labels).double().mean(0) > 0.5).double()

    temporary_plugin("protocol", "most", Majority)
    record = _cell(toy_model(sigma=0.05), PGD(eps=0.01, steps=2))
    preds = torch.tensor(record["draws"]["predictions"])[:4]
    expected = 10.0 * int(((preds == torch.tensor(record["subset"]["labels"])).sum(0) > 2).sum())
    assert record_scores(record, ["most@4"]) == {"most@4": pytest.approx(expected)}
    assert "most@4" not in record["protocols"]  # not a default: asked for by name, no rerun


def test_quiet_clips_are_shown_with_their_level_and_warned_about():
    loud, quiet = toy_model(), toy_model()
    record = _cell(loud, PGD(eps=0.01, steps=2))
    peaks = record["per_sample"]["clip_peak"]
    assert max(peaks) == pytest.approx(1.0) and len(record["per_sample"]["clip_rms"]) == 10
    assert record["checks"]["levels"]["peak_median"] == pytest.approx(float(torch.tensor(peaks).double().quantile(0.5)),
                                                                      abs=1e-5)
    assert not any("perturbation SNR" in w for w in record["checks"]["warnings"])  # 0.01 on clips of peak ~0.5
    x = toy_waves(10) * 0.01  # a quiet recording: the same ε is now loud
    clips = ClipSet([f"c{i}" for i in range(10)], x, labels_of(quiet, x), tuple(CLASSES))
    quiet_record = evaluate_cell(quiet, PGD(eps=0.01, steps=2), clips, 0, 4, CPU, progress=False)
    assert quiet_record["checks"]["snr_db"]["median"] < 20
    assert any("median perturbation SNR" in w and "median clip peak" in w for w in quiet_record["checks"]["warnings"])
