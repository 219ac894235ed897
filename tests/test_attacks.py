"""PGD: the shared projection, the budget check, the update rule and EOT gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attacks.base import check_budget, enforce_budget
from attacks.gradients import EOT, Autograd
from attacks.norms import get_norm
from attacks.pgd import PGD
from bench.errors import BadParameter, BudgetViolation


def _waves(b: int = 4, t: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 1, t, generator=g) * 2 - 1) * 0.999


@pytest.mark.parametrize("norm, eps", [("linf", 0.002), ("l2", 0.253)])
def test_project_lands_in_ball_and_range(norm: str, eps: float):
    x = _waves()
    x[0, 0, :5] = 1.0  # at the range edge: the range clamp must bite
    far = x + torch.randn_like(x)
    p = get_norm(norm).project(far, x, eps)
    report = check_budget(p, x, eps, norm)
    assert report.ok and p.min() >= -1 and p.max() <= 1
    dist = (p - x).flatten(1).abs().amax(1) if norm == "linf" else (p - x).flatten(1).norm(dim=1)
    assert dist.max() <= eps * (1 + 1e-5)
    inside = x + 0.1 * eps * torch.sign(torch.randn_like(x)) / (1 if norm == "linf" else x[0].numel() ** 0.5)
    inside = inside.clamp(-1, 1)
    assert torch.allclose(get_norm(norm).project(inside, x, eps), inside)  # already feasible: unchanged


def test_l2_projection_keeps_direction():
    x = torch.zeros(2, 1, 16)
    d = torch.randn(2, 1, 16)
    p = get_norm("l2").project(x + d, x, 0.5)
    assert torch.allclose(p.flatten(1).norm(dim=1), torch.tensor([0.5, 0.5]), atol=1e-6)
    cos = nn.functional.cosine_similarity(p.flatten(1), d.flatten(1))
    assert torch.allclose(cos, torch.ones(2), atol=1e-6)


def test_budget_check_catches_every_kind_of_violation():
    x = _waves() * 0.5
    ok = get_norm("linf").project(x + 1, x, 0.002)
    assert check_budget(ok, x, 0.002, "linf").ok
    bad = ok.clone()
    bad[0, 0, 3] += 0.01
    bad[1, 0, 0] = 1.5
    bad[2, 0, 7] = float("nan")
    report = check_budget(bad, x, 0.002, "linf")
    assert (report.violations, report.out_of_range, report.non_finite) == (3, 1, 1)
    assert report.max_linf == pytest.approx(float("inf")) or report.max_linf > 0.01
    with pytest.raises(BudgetViolation, match="broke its budget"):
        enforce_budget(report, "PGD")
    l2_bad = x + 0.3 / x[0].numel() ** 0.5
    assert check_budget(l2_bad, x, 0.253, "l2").violations == 4


def test_random_start_is_inside_the_ball_and_seeded():
    x = _waves()
    for norm, eps in (("linf", 0.002), ("l2", 0.253)):
        a = get_norm(norm).random_start(x, eps, torch.Generator().manual_seed(1))
        b = get_norm(norm).random_start(x, eps, torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and check_budget(a, x, eps, norm).ok and not torch.equal(a, x)


class LinearVictim(nn.Module):
    """A deterministic wave classifier: logits = W x (accepts and ignores a generator)."""

    def __init__(self, t: int = 64, classes: int = 3):
        super().__init__()
        self.w = nn.Parameter(torch.randn(classes, t, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x.flatten(1) @ self.w.T


def test_pgd_defaults_follow_the_papers():
    linf, l2 = PGD(), PGD(norm="l2")
    assert (linf.eps, linf.step_size, linf.steps, linf.random_start) == (0.002, pytest.approx(0.0004), 10, False)
    assert (l2.eps, l2.step_size) == (0.253, pytest.approx(0.1265))
    assert PGD(eot=20).gradient_mode == "eot" and linf.gradient_mode == "exact"
    with pytest.raises(BadParameter):
        PGD(eps=-1.0)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_breaks_a_linear_model_within_budget(norm: str):
    model = LinearVictim()
    x = _waves(32) * 0.05
    y = (x.flatten(1) @ model.w.T).argmax(1)  # all clean-correct
    eps = 0.05 if norm == "linf" else 0.4
    attack = PGD(norm=norm, eps=eps, steps=20)
    seen = []
    x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0), on_step=lambda s, xa: seen.append(s))
    assert seen == list(range(1, 21))
    assert check_budget(x_adv, x, eps, norm).ok
    robust = ((x_adv.flatten(1) @ model.w.T).argmax(1) == y).float().mean()
    assert robust < 0.2
    assert torch.equal(PGD(norm=norm, eps=eps, steps=0).perturb(model, x, y, torch.Generator()), x)


def test_pgd_linf_step_is_a_signed_step_of_eps_over_5():
    model = LinearVictim()
    x = _waves(2) * 0.1
    y = torch.zeros(2, dtype=torch.long)
    x1 = PGD(eps=0.01, steps=1).perturb(model, x, y, torch.Generator())
    grad, _ = Autograd()(model, x, y, torch.Generator())
    assert torch.allclose(x1 - x, 0.002 * grad.sign(), atol=1e-7)


class NoisyScale(nn.Module):
    """logits[:, 0] = s · Σx with s ~ U(0, 2) per example, drawn from the generator."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        s = torch.rand(x.shape[0], 1, generator=generator) * 2
        return torch.cat([s * x.flatten(1).sum(1, keepdim=True), torch.zeros(x.shape[0], 1)], 1)


def test_eot_averages_fresh_draws_in_bounded_chunks():
    x = _waves(3, 8)
    y = torch.zeros(3, dtype=torch.long)
    first = Autograd(loss=lambda logits, _: logits[:, 0])
    g1, _ = first(NoisyScale(), x, y, torch.Generator().manual_seed(0))
    assert g1[:, 0, 0].std() > 0.1  # one draw: each example's gradient is its own random scale
    for batch in (None, 7):
        g, loss = EOT(first, samples=4000, batch=batch)(NoisyScale(), x, y, torch.Generator().manual_seed(0))
        assert torch.allclose(g, torch.ones_like(g), atol=0.05)  # E[s] = 1
        assert loss.shape == (3,)
    deterministic = LinearVictim(8)
    ge, _ = EOT(Autograd(), samples=5, batch=2)(deterministic, x, y, torch.Generator())
    ga, _ = Autograd()(deterministic, x, y, torch.Generator())
    assert torch.allclose(ge, ga, atol=1e-6)
