"""The attack plugins' own behaviour: PGD restarts, APGD, FakeBob, MI-FGSM and TSMI-FGSM."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import attacks.restarts
from attacks.apgd import APGD, step_size_checks
from attacks.base import check_budget
from attacks.fakebob import FakeBob
from attacks.losses import cross_entropy
from attacks.mifgsm import MIFGSM
from attacks.pgd import PGD
from attacks.restarts import best_of
from attacks.tsmifgsm import TSMIFGSM
from bench.errors import CheckpointError
from bench.queries import QueryCounter
from tests.test_attacks_contract import labels_of, tiny_surrogate, toy_model, toy_waves  # noqa: F401
from tests.test_attacks_estimators import Linear, QueryOnly


class Noisy(nn.Module):
    """A linear classifier behind strong Gaussian input noise (a randomized defense); can be told to lie."""

    stochastic = True

    def __init__(self, t: int = 32, sigma: float = 0.5):
        super().__init__()
        self.linear, self.sigma = Linear(t), sigma

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return self.linear(x + self.sigma * noise)


def _clean(model: nn.Module, b: int = 16, t: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    x = (torch.rand(b, 1, t, generator=torch.Generator().manual_seed(2)) * 2 - 1) * 0.1
    return x, labels_of(model, x)


def test_restarts_are_chosen_by_loss_or_vote_over_many_draws(monkeypatch: pytest.MonkeyPatch):
    model = Noisy()
    x, y = _clean(model)
    good = x + 0.3 * torch.sign(torch.autograd.functional.jacobian(
        lambda z: cross_entropy(model.linear(z), y).sum(), x))
    candidates = [x.clone(), good.clamp(-1, 1)]
    for by in ("loss", "vote"):
        chosen = best_of(model, x, y, candidates, torch.Generator().manual_seed(0), by, draws=50)
        assert torch.equal(chosen, candidates[1])  # the adversarial one, for every example
        assert torch.equal(best_of(model, x, y, candidates[::-1], torch.Generator().manual_seed(0), by, 50),
                           candidates[1])
    deterministic = Linear()
    pgd = PGD(eps=0.05, steps=3, restarts=3, restart_draws=1)
    seen: list[int] = []
    captured: list[list[torch.Tensor]] = []
    monkeypatch.setattr(attacks.restarts, "best_of", lambda *a, **k: captured.append(a[3]) or best_of(*a, **k))
    x_adv = pgd.perturb(deterministic, x, y, torch.Generator().manual_seed(0), on_step=lambda s, _: seen.append(s))
    assert seen == list(range(1, 10))  # every restart's iterates are reported
    (candidates,) = captured
    assert len(candidates) == 3 and not torch.equal(candidates[1], candidates[2])  # random starts differ
    losses = torch.stack([cross_entropy(deterministic(c), y) for c in candidates])
    assert torch.allclose(cross_entropy(deterministic(x_adv), y), losses.amax(0))


def test_apgd_step_size_checks_follow_the_paper():
    # Where 3% and 6% of the steps are whole numbers AutoAttack's integer schedule is the paper's exactly.
    for steps in (100, 1000):
        fractions = [0.0, 0.22]
        while fractions[-1] + max(fractions[-1] - fractions[-2] - 0.03, 0.06) <= 1 + 1e-9:
            fractions.append(fractions[-1] + max(fractions[-1] - fractions[-2] - 0.03, 0.06))
        assert step_size_checks(steps) == [round(f * steps) for f in fractions[1:]]
    for steps in (1, 7, 20, 70):
        points = step_size_checks(steps)
        gaps = [b - a for a, b in zip([0, *points], points)]
        assert points and points[-1] <= steps and min(gaps) >= 1
        assert gaps == sorted(gaps, reverse=True)


@pytest.mark.parametrize("norm, eps, loss", [("linf", 0.02, "ce"), ("l2", 0.3, "ce"), ("linf", 0.02, "dlr")])
def test_apgd_keeps_the_best_loss_iterate_within_budget(norm: str, eps: float, loss: str):
    model = Linear()
    x, y = _clean(model)
    attack = APGD(norm=norm, eps=eps, steps=20, loss=loss)
    iterates: list[torch.Tensor] = []
    x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0), on_step=lambda s, xi: iterates.append(xi))
    assert len(iterates) == 20 and check_budget(x_adv, x, eps, norm).ok
    loss_fn = attack.estimator.loss
    best = loss_fn(model(x_adv), y)
    assert all((best >= loss_fn(model(xi), y) - 1e-5).all() for xi in iterates)
    assert (model(x_adv).argmax(1) == y).float().mean() < (model(x).argmax(1) == y).float().mean()


def test_fakebob_queries_only_and_counts_every_query():
    model = Linear()
    x, y = _clean(model, b=4)
    for eot in (1, 2):
        attack = FakeBob(eps=0.05, steps=5, samples=6, nes_batch=4, eot=eot)
        counter = QueryCounter(QueryOnly(model))
        x_adv = attack.perturb(counter, x, y, torch.Generator().manual_seed(0))
        assert counter.queries == x.shape[0] * attack.queries_per_clip == x.shape[0] * 6 * 6 * eot
        assert check_budget(x_adv, x, 0.05, "linf").ok
    assert FakeBob().queries_per_clip == 201 * 200  # AudioPure's setting: 200 iterations + the final score


def test_fakebob_breaks_a_model_it_can_only_query():
    model = Linear()
    x, y = _clean(model)
    x_adv = FakeBob(eps=0.1, steps=40, samples=20, lr=0.01).perturb(QueryOnly(model), x, y,
                                                                     torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(x_adv).argmax(1) == y).float().mean() <= 0.25
        assert (cross_entropy(model(x_adv), y) >= cross_entropy(model(x), y) - 1e-6).all()  # best, not clean


@pytest.mark.parametrize("rule, falling_halves", [("stalled", True), ("released", False)])
def test_fakebob_plateau_rule(rule: str, falling_halves: bool):
    attack = FakeBob(plateau_rule=rule, plateau_length=3, lr=0.001)
    window, filled = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    lr = torch.full((2,), 0.001)
    for loss in ([3.0, 1.0], [2.0, 2.0], [1.0, 3.0]):  # clip 0 falls, clip 1 rises
        window, filled, lr = attack._plateau(window, filled, torch.tensor(loss), lr)
    halved = lr < 0.001
    assert halved.tolist() == ([True, False] if falling_halves else [False, True])
    assert filled.tolist() == [0 if h else 3 for h in halved.tolist()]  # a halving starts the window afresh


def test_transfer_attacks_never_query_the_target(tiny_surrogate: dict[str, Any]):
    x = toy_waves()
    target = QueryCounter(toy_model())
    y = labels_of(target.model, x)
    for attack in (MIFGSM(steps=4, **tiny_surrogate), TSMIFGSM(steps=2, copies=3, max_shift=40, **tiny_surrogate)):
        x_adv = attack.perturb(target, x, y, torch.Generator().manual_seed(0))
        assert target.queries == 0 and attack.gradient_mode == "transfer"
        assert check_budget(x_adv, x, 0.004, "linf").ok and attack.step_size == pytest.approx(0.004 / attack.steps)
        assert attack.params()["surrogate"] == "tiny-mel"


def test_tsmifgsm_without_shift_is_mifgsm(tiny_surrogate: dict[str, Any]):
    x = toy_waves()
    y = labels_of(toy_model(), x)
    mi = MIFGSM(steps=5, **tiny_surrogate).perturb(None, x, y, torch.Generator().manual_seed(0))
    ts = TSMIFGSM(steps=5, copies=4, max_shift=0, **tiny_surrogate).perturb(None, x, y,
                                                                         torch.Generator().manual_seed(0))
    assert torch.allclose(mi, ts, atol=1e-6)
    shifted = TSMIFGSM(steps=5, copies=4, max_shift=200, **tiny_surrogate).perturb(None, x, y, torch.Generator())
    assert not torch.allclose(mi, shifted)


def test_a_surrogate_without_weights_is_one_clear_line(temporary_plugin):
    from tests.test_attacks_contract import tiny_mel_net

    temporary_plugin("victim", "tiny-unshipped", tiny_mel_net)
    with pytest.raises(CheckpointError, match="surrogate 'tiny-unshipped' .* -o surrogate_weights=PATH"):
        MIFGSM(surrogate="tiny-unshipped")
