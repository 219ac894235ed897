"""Gradient estimators and update rules: NES, time shifts, transfer, EOT modes, momentum, the DLR loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attacks.gradients import EOT, NES, Autograd, TimeShift, Transfer, time_shift
from attacks.losses import cross_entropy, dlr
from attacks.rules import Momentum
from bench.errors import BadParameter
from bench.queries import QueryCounter


class Linear(nn.Module):
    """logits = W x + b, deterministic; accepts and ignores a generator."""

    def __init__(self, t: int = 32, classes: int = 4, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(classes, t, generator=g))
        self.b = nn.Parameter(torch.randn(classes, generator=g))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x.flatten(1) @ self.w.T + self.b


class QueryOnly(nn.Module):
    """Fails the test if anyone asks it for a gradient."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        assert not torch.is_grad_enabled() and not x.requires_grad, "a query-only estimator asked for gradients"
        return self.inner(x, generator=generator)


def _data(b: int = 3, t: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(b, 1, t, generator=torch.Generator().manual_seed(1)) * 0.2
    return x, torch.arange(b) % 4


def test_nes_estimates_the_gradient_from_queries_only():
    model, (x, y) = Linear(), _data()
    exact, exact_loss = Autograd()(model, x, y, torch.Generator())
    counter = QueryCounter(QueryOnly(model))
    nes = NES(sigma=1e-3, samples=4000, batch=1000)
    grad, loss = nes(counter, x, y, torch.Generator().manual_seed(0))
    assert counter.queries == 4000 * x.shape[0]
    cos = nn.functional.cosine_similarity(grad.flatten(1), exact.flatten(1))
    assert (cos > 0.9).all(), cos
    assert torch.allclose(loss, exact_loss, atol=1e-3)  # σ is tiny: the mean queried loss is the loss at x
    again, _ = nes(model, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(again, grad)
    for bad in ({"samples": 3}, {"samples": 0}, {"sigma": 0.0}):
        with pytest.raises(BadParameter):
            NES(**{"sigma": 1e-3, "samples": 4, **bad})


def test_eot_keeps_the_inner_mode():
    assert EOT(Autograd(), 3).mode == "eot" and Autograd().mode == "exact"
    assert EOT(NES(1e-3, 4), 2).mode == "nes"
    assert EOT(Transfer(Linear(), Autograd()), 2).mode == "transfer"
    assert TimeShift(Autograd(), 2, 5).mode == "exact"


def test_time_shift_moves_content_and_zero_fills():
    x = torch.arange(1.0, 7.0).view(1, 1, 6).repeat(3, 1, 1)
    out = time_shift(x, torch.tensor([2, -1, 0]))
    assert out[0, 0].tolist() == [0, 0, 1, 2, 3, 4]
    assert out[1, 0].tolist() == [2, 3, 4, 5, 6, 0]
    assert torch.equal(out[2], x[2])


def test_time_shift_gradient_is_the_mean_over_shifted_copies():
    model, (x, y) = Linear(), _data()
    copies, m = 5, 4
    grad, _ = TimeShift(Autograd(), copies, m, batch=2)(model, x, y, torch.Generator().manual_seed(3))
    # The same offsets, drawn the same way, and each copy's gradient taken by hand.
    g = torch.Generator().manual_seed(3)
    manual = torch.zeros_like(x)
    for k in (2, 2, 1):
        offsets = torch.randint(-m, m + 1, (k * x.shape[0],), generator=g)
        xs = x.repeat(k, 1, 1).requires_grad_(True)
        loss = cross_entropy(model(time_shift(xs, offsets)), y.repeat(k)).sum()
        manual += torch.autograd.grad(loss, xs)[0].view(k, *x.shape).sum(0)
    assert torch.allclose(grad, manual / copies, atol=1e-6)
    no_shift, _ = TimeShift(Autograd(), copies, 0)(model, x, y, torch.Generator())
    assert torch.allclose(no_shift, Autograd()(model, x, y, torch.Generator())[0], atol=1e-6)


def test_transfer_uses_the_surrogate_and_never_the_target():
    surrogate, (x, y) = Linear(seed=5), _data()

    def target(*args, **kwargs):
        raise AssertionError("a transfer attack queried the target")

    grad, loss = Transfer(surrogate, Autograd())(target, x, y, torch.Generator())
    expected, expected_loss = Autograd()(surrogate, x, y, torch.Generator())
    assert torch.equal(grad, expected) and torch.equal(loss, expected_loss)


def test_mi_fgsm_momentum_normalises_by_the_mean_absolute_gradient():
    g1 = torch.tensor([[[1.0, -3.0]], [[0.5, 0.5]]])
    g2 = torch.tensor([[[-4.0, 0.0]], [[1.0, -1.0]]])
    rule = Momentum(decay=1.0)
    first = rule(g1)
    assert torch.allclose(first, torch.tensor([[[0.5, -1.5]], [[1.0, 1.0]]]))
    assert torch.allclose(rule(g2), first + torch.tensor([[[-2.0, 0.0]], [[1.0, -1.0]]]))
    ema = Momentum(0.9, normalize=False, dampening=0.9)  # FakeBob's running average from zero
    assert torch.allclose(ema(g1), 0.1 * g1) and torch.allclose(ema(g2), 0.09 * g1 + 0.1 * g2)


def test_dlr_is_positive_exactly_when_misclassified_and_scale_invariant():
    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(1))
    loss = dlr(logits, y)
    assert torch.equal(loss > 0, logits.argmax(1) != y)
    assert torch.allclose(dlr(3.0 * logits + 7.0, y), loss, atol=1e-5)
    with pytest.raises(BadParameter, match="at least 3 classes"):
        dlr(logits[:, :2], y % 2)
