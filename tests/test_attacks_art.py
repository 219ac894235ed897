"""``art``: ART attacks through our EOT classifier, and our PGD against ART's on the same model and clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attacks.art_evasion import ARTAttack, eot_classifier_class, parse_args
from attacks.base import check_budget
from attacks.gradients import EOT, Autograd
from attacks.pgd import PGD
from bench.errors import BadParameter
from bench.evaluate import correct
from bench.model import DefendedModel
from bench.victim_loader import load_victim
from defenses.none import NoDefense
from tests.test_attacks_contract import labels_of, toy_model, toy_waves


def test_the_classifier_averages_gradients_over_seeded_draws_and_predicts_in_batches():
    model, x = toy_model(sigma=0.05), toy_waves()
    y = labels_of(model, x)
    seen: list[torch.Tensor] = []
    estimator = EOT(Autograd(), 4, batch=3)
    classifier = eot_classifier_class()(model, estimator, torch.Generator().manual_seed(7), 10, tuple(x.shape[1:]),
                                        torch.device("cpu"), seen.append)
    one_hot = np.eye(10, dtype=np.float32)[y.numpy()]
    grad = classifier.loss_gradient(x.numpy(), one_hot)
    expected, _ = estimator(model, x, y, torch.Generator().manual_seed(7))
    assert isinstance(grad, np.ndarray) and np.allclose(grad, expected.numpy(), atol=1e-6)
    assert len(seen) == 1 and torch.equal(seen[0], x)
    as_tensor = classifier.loss_gradient(x, y)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == x.shape
    logits = classifier.predict(x.numpy(), batch_size=4)
    assert logits.shape == (6, 10) and logits.dtype == np.float32


def test_arguments_and_refusals_are_one_clear_line():
    assert parse_args("decay=1.0, targeted=False,norm='inf'") == {"decay": 1.0, "targeted": False, "norm": "inf"}
    assert parse_args("eps=(0.1, 0.2)") == {"eps": (0.1, 0.2)}
    with pytest.raises(BadParameter, match="not key=value"):
        parse_args("decay")
    with pytest.raises(BadParameter, match="unknown ART evasion attack 'Nope'; valid: .*ProjectedGradientDescent"):
        ARTAttack(name="Nope")
    with pytest.raises(BadParameter, match="has no argument 'wat'"):
        ARTAttack(args="wat=1")
    model, x = toy_model(), toy_waves()
    restarts = ARTAttack(args="num_random_init=3")
    with pytest.raises(BadParameter, match="one noisy prediction"):
        restarts.perturb(model, x, labels_of(model, x), torch.Generator())
    assert ARTAttack(name="AutoProjectedGradientDescent").art_kwargs(4, True)["nb_random_init"] == 1
    assert ARTAttack(name="HopSkipJump").gradient_mode == "query" and ARTAttack(eot=3).gradient_mode == "eot"


def test_momentum_iterative_method_runs_with_eot_inside_the_budget():
    model, x = toy_model(), toy_waves()
    y = labels_of(model, x)
    attack = ARTAttack(name="MomentumIterativeMethod", steps=3, eot=2)
    steps: list[int] = []
    x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0), on_step=lambda s, _: steps.append(s))
    assert check_budget(x_adv, x, attack.eps, "linf").ok and not torch.equal(x_adv, x)
    assert steps == [1, 2, 3]  # the iterates after the start point, then the final example
    again = attack.perturb(model, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(again, x_adv)


@pytest.mark.parametrize("norm, eps, steps", [("linf", 0.002, 5), ("l2", 0.05, 5)])
def test_our_pgd_matches_arts_pgd_on_the_shipped_victim(tiny_synth, norm: str, eps: float, steps: int):
    """Acceptance: the same robust accuracy (± 2 points) on the same deterministic model and clips."""
    test, valid = tiny_synth.load("test"), tiny_synth.load("valid")
    x, y = torch.cat([test.waves, valid.waves]), torch.cat([test.labels, valid.labels])
    model = DefendedModel(load_victim("resnext29").classifier, NoDefense())
    keep = correct(model, x, y, 100, torch.device("cpu"))
    x, y = x[keep], y[keep]
    assert len(x) >= 60
    accuracy = {}
    for attack in (PGD(norm=norm, eps=eps, steps=steps), ARTAttack(norm=norm, eps=eps, steps=steps)):
        x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0))
        assert check_budget(x_adv, x, eps, norm).ok
        accuracy[type(attack).__name__] = 100 * correct(model, x_adv, y, 100, torch.device("cpu")).float().mean()
    assert accuracy["PGD"] < 100  # the attack does something here, so agreement means something
    assert abs(accuracy["PGD"] - accuracy["ARTAttack"]) <= 2.0, accuracy


@pytest.mark.slow
def test_pgd_and_art_pgd_agree_through_bench_run_on_the_default_data(tmp_path):
    """The acceptance check at the paper's budget: 100 clips of the full default data, one seed each."""
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.results import iter_records

    robust = {}
    for attack in ("pgd", "art"):
        out = CliRunner().invoke(app, ["run", "--attack", attack, "--steps", "10", "--seeds", "1", "--draws", "1",
                                       "--results", str(tmp_path / attack), "--no-progress"])
        assert out.exit_code == 0, out.output
        (record,) = iter_records(tmp_path / attack)
        assert record["n"] == 100 and record["budget"]["violations"] == 0
        robust[attack] = record["robust_acc"]
    assert abs(robust["pgd"] - robust["art"]) <= 2.0, robust
