"""Norms are objects: the in-tree L∞ and L2, the budget check through them, and a new norm as one object."""

from __future__ import annotations

import math

import pytest
import torch

from attacks.base import Attack, Budget, check_budget
from attacks.mifgsm import MIFGSM
from attacks.norms import L2, LInf, Norm, get_norm, per_sample
from attacks.pgd import PGD
from bench.errors import BadParameter
from bench.registry import REGISTRY
from tests.test_attacks import LinearVictim, _waves


class L1(Norm):
    """L1 for the test: scaling onto the ball (feasible, not the Euclidean projection), L1-normalised steps."""

    name, label, p = "l1", "L1", 1
    default_eps, transfer_eps, pgd_step_divisor = 0.5, 1.0, 4

    def ball(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        scale = (eps / delta.flatten(1).abs().sum(1).clamp_min(1e-12)).clamp(max=1.0)
        return delta * per_sample(scale, delta)

    def step(self, grad: torch.Tensor, step_size: float | torch.Tensor) -> torch.Tensor:
        return per_sample(step_size, grad) * grad / per_sample(grad.flatten(1).abs().sum(1).clamp_min(1e-12), grad)

    def random_start(self, x: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
        delta = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
        return self.project(x + delta * eps / x[0].numel(), x, eps)

    def distance(self, delta: torch.Tensor) -> torch.Tensor:
        return delta.abs().sum(1)


def test_a_new_norm_is_one_object(temporary_plugin):
    temporary_plugin("norm", "l1", L1)
    model = LinearVictim()
    x = _waves(8) * 0.05
    y = (x.flatten(1) @ model.w.T).argmax(1)
    # Through the registry, as `-o norm=l1 -o random_start=true` reaches it: the norm's own ε and step.
    attack, _ = REGISTRY.create("attack", "pgd", {"norm": "l1", "steps": "5", "random_start": "true"})
    assert (attack.norm, attack.eps, attack.step_size) == ("l1", 0.5, 0.125)
    assert attack.params()["norm"] == "l1" and "L1 ε=0.5" in attack.label() and attack.budget == Budget("l1", 0.5)
    x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0))
    assert check_budget(x_adv, x, attack.eps, "l1").ok and not torch.equal(x_adv, x)
    assert (x_adv - x).flatten(1).abs().sum(1).max() <= 0.5 * (1 + 1e-5)
    assert ((x_adv.flatten(1) @ model.w.T).argmax(1) != y).any()  # it does attack
    too_far = x.clone()
    too_far[:, 0, 0] += 0.6
    assert check_budget(too_far, x, 0.5, L1()).violations == 8
    assert Attack.default_eps["l1"] == 0.5 and MIFGSM.default_eps["l1"] == 1.0


def test_unknown_norms_are_one_line_listing_the_registered_ones(temporary_plugin):
    with pytest.raises(BadParameter, match=r"^attack 'pgd': norm='l3' is not valid; expected one of 'linf', 'l2'$"):
        PGD(norm="l3")
    temporary_plugin("norm", "l1", L1)
    with pytest.raises(BadParameter, match=r"expected one of 'linf', 'l2', 'l1'$"):
        get_norm("l3")
    assert "l3" not in Attack.default_eps and Attack.default_eps.get("l3") is None


def test_the_in_tree_norms_carry_the_papers_numbers():
    linf, l2 = get_norm("linf"), get_norm("l2")
    assert isinstance(linf, LInf) and isinstance(l2, L2) and get_norm(l2) is l2
    assert (linf.label, linf.default_eps, linf.transfer_eps, linf.art_norm) == ("L∞", 0.002, 0.004, math.inf)
    assert (l2.label, l2.default_eps, l2.transfer_eps, l2.art_norm) == ("L2", 0.253, 0.506, 2)
    assert linf.default_step_size(0.002) == 0.002 / 5 and l2.default_step_size(0.253) == 0.253 / 2
    assert dict(Attack.default_eps) == {"linf": 0.002, "l2": 0.253}
    assert dict(MIFGSM.default_eps) == {"linf": 0.004, "l2": 0.506}
    delta = torch.tensor([[3.0, -4.0], [0.5, 0.0]])
    assert linf.distance(delta).tolist() == [4.0, 0.5] and l2.distance(delta).tolist() == [5.0, 0.5]
    grad = torch.tensor([[[3.0, -4.0]]])
    assert torch.equal(linf.step(grad, 0.5), torch.tensor([[[0.5, -0.5]]]))
    assert torch.allclose(l2.step(grad, torch.tensor([10.0])), torch.tensor([[[6.0, -8.0]]]))
