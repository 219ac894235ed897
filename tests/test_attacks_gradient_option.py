"""``-o attack.gradient=...``: any registered estimator drives pgd, apgd and the transfer attacks, and what
the harness reads of an attack (budget, draws and passes per gradient)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from attacks.apgd import APGD
from attacks.art_evasion import ARTAttack
from attacks.estimators import make_estimator, parse_estimator
from attacks.fakebob import FakeBob
from attacks.gradients import EOT, Autograd, GradientEstimator, Model
from attacks.losses import Loss, cross_entropy, dlr
from attacks.mifgsm import MIFGSM
from attacks.pgd import PGD
from attacks.tsmifgsm import TSMIFGSM
from bench.errors import BadParameter, BenchError
from bench.registry import REGISTRY
from tests.test_attacks_contract import labels_of, tiny_surrogate, toy_model, toy_waves  # noqa: F401


def _run(attack: Any, seed: int = 0) -> torch.Tensor:
    model, x = toy_model(sigma=0.02), toy_waves(4)
    return attack.perturb(model, x, labels_of(model, x), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name, extra", [("pgd", {"steps": "2"}), ("apgd", {"steps": "3", "loss": "dlr"}),
                                         ("bandlimited", {"steps": "2"})])
def test_gradient_eot_is_the_eot_shorthand(name: str, extra: dict[str, str]):
    by_gradient, _ = REGISTRY.create("attack", name, {**extra, "gradient": "eot:4"})
    by_eot, _ = REGISTRY.create("attack", name, {**extra, "eot": "4"})
    assert by_gradient.params() == by_eot.params() and "gradient" not in by_eot.params()  # the same cell id
    assert by_gradient.label() == by_eot.label() and "EOT-4" in by_eot.label()
    assert torch.equal(_run(by_gradient), _run(by_eot))
    batched, _ = REGISTRY.create("attack", name, {**extra, "gradient": "eot:4:batch=2"})
    assert batched.params() == REGISTRY.create("attack", name, {**extra, "eot": "4", "eot_batch": "2"})[0].params()
    plain, _ = REGISTRY.create("attack", name, {**extra, "gradient": "autograd"})
    assert plain.params() == REGISTRY.create("attack", name, extra)[0].params()


class Scaled(GradientEstimator):
    """The attack's loss gradient times ``factor`` (a test plugin); counts its calls."""

    mode = "exact"
    calls: list[str] = []

    def __init__(self, factor: float = 2.0, loss: Loss = cross_entropy):
        self.inner, self.factor = Autograd(loss), factor

    def __call__(self, model: Model, x: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        Scaled.calls.append(self.inner.loss.__name__)
        grad, loss = self.inner(model, x, y, generator)
        return grad * self.factor, loss


def test_a_new_estimator_plugin_drives_pgd_and_apgd(temporary_plugin):
    temporary_plugin("estimator", "scaled", Scaled)
    Scaled.calls.clear()
    pgd, _ = REGISTRY.create("attack", "pgd", {"steps": "2", "gradient": "scaled:3"})
    assert isinstance(pgd.estimator, Scaled) and pgd.estimator.factor == 3.0
    assert pgd.params()["gradient"] == "scaled:3.0" and pgd.label().endswith(" scaled:3.0")
    # A positive factor leaves the sign, so L∞ PGD takes the very steps of plain autograd.
    assert torch.equal(_run(pgd), _run(PGD(steps=2))) and Scaled.calls == ["cross_entropy"] * 2
    rebuilt, _ = REGISTRY.create("attack", "pgd", pgd.params())  # the record rebuilds the attack
    assert rebuilt.params() == pgd.params()
    Scaled.calls.clear()
    apgd = APGD(steps=3, loss="dlr", gradient="scaled")
    assert apgd.params()["gradient"] == "scaled:2.0" and apgd.gradient_mode == "exact"
    _run(apgd)
    assert Scaled.calls == ["dlr"] * 4  # the attack's loss reaches the estimator; start + 3 steps
    assert make_estimator("scaled:5", loss=dlr).inner.loss is dlr


@pytest.mark.parametrize("text, message", [
    ("nope", "unknown estimator 'nope'; valid: autograd, eot, nes, timeshift"),
    ("eot:x", "samples='x' is not valid; expected int"),
    ("eot:3:7", "only the first item may be a bare value"),
    ("eot:3:wat=1", "estimator 'eot' has no option 'wat'; valid: samples, batch"),
    ("eot:3:samples=4", "option 'samples' given twice"),
    ("autograd:2", "estimator 'autograd' takes no options"),
    ("eot:3:loss=dlr", "has no option 'loss'"),
    ("nes:3", "NES needs an even number of samples"),
])
def test_bad_gradient_texts_are_one_line(text: str, message: str):
    for build in (lambda: PGD(gradient=text), lambda: REGISTRY.create("attack", "apgd", {"gradient": text})):
        with pytest.raises(BenchError) as info:
            build()
        assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(BadParameter, match="give eot=3 or gradient='nes:4', not both"):
        PGD(eot=3, gradient="nes:4")
    with pytest.raises(BadParameter, match="eot_batch applies to EOT only"):
        PGD(eot_batch=2, gradient="nes:4")


def test_canonical_text_round_trips():
    spec = parse_estimator(" nes : 10 : sigma=0.002 ")
    assert spec.text() == "nes:10:sigma=0.002:batch=None" and spec.text(full=False) == "nes:10:sigma=0.002"
    assert parse_estimator(spec.text()) == parse_estimator("nes:10:sigma=0.002:batch=None")
    assert parse_estimator("eot").options == {"samples": 20, "batch": None}


def test_budget_draws_and_passes_per_gradient(tiny_surrogate: dict[str, Any]):  # noqa: F811
    assert PGD().budget.norm == "linf" and PGD(norm="l2").budget.eps == 0.253
    assert (PGD().draws_per_gradient, PGD().passes_per_gradient) == (1, 1)
    assert (PGD(eot=5).draws_per_gradient, APGD(gradient="eot:6:batch=2").passes_per_gradient) == (5, 6)
    nes = PGD(gradient="nes:10")
    assert (nes.draws_per_gradient, nes.passes_per_gradient, nes.gradient_mode) == (10, 10, "nes")
    assert (FakeBob().draws_per_gradient, FakeBob(eot=2).passes_per_gradient) == (200, 400)
    assert ARTAttack(eot=3).draws_per_gradient == 3 and ARTAttack(name="HopSkipJump").passes_per_gradient == 1
    for attack in (MIFGSM(steps=2, **tiny_surrogate), TSMIFGSM(steps=2, copies=3, **tiny_surrogate)):
        assert (attack.draws_per_gradient, attack.passes_per_gradient, attack.gradient_mode) == (0, 0, "transfer")
    eot_mi = MIFGSM(steps=2, gradient="eot:3", **tiny_surrogate)  # mifgsm has no eot: recorded as gradient
    assert eot_mi.params()["gradient"] == "eot:3:batch=None" and isinstance(eot_mi.estimator.inner, EOT)
    assert "gradient" not in MIFGSM(steps=2, gradient="autograd", **tiny_surrogate).params()
