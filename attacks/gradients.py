"""Gradient estimators: how an update rule gets ∇ₓ loss. Update rules never compute gradients themselves.

An estimator is called as ``estimator(model, x, y, generator) -> (grad, loss)`` with per-sample ``loss``
(shape (B,)) and ``grad`` = ∂ Σ loss / ∂x, so each example's gradient is independent of the batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Model = Callable[..., Tensor]
Loss = Callable[[Tensor, Tensor], Tensor]


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y, reduction="none")


class GradientEstimator(ABC):
    mode: str

    @abstractmethod
    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        ...


class Autograd(GradientEstimator):
    """Backpropagation through the whole defended model, one stochastic draw."""

    mode = "exact"

    def __init__(self, loss: Loss = cross_entropy):
        self.loss = loss

    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = self.loss(model(x, generator=generator), y)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        return grad, loss.detach()


class EOT(GradientEstimator):
    """Expectation over transformation (Athalye et al., ICML 2018): the mean of ``samples`` gradients of
    ``inner``, each from a fresh draw of the defense's randomness. Copies of the batch are stacked
    ``batch`` at a time (all at once when None), so memory stays bounded."""

    mode = "eot"

    def __init__(self, inner: GradientEstimator, samples: int, batch: int | None = None):
        if samples < 1:
            raise ValueError("EOT needs at least one sample")
        self.inner, self.samples, self.batch = inner, samples, batch or samples

    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        grad_sum = torch.zeros_like(x)
        loss_sum = torch.zeros(x.shape[0], device=x.device)
        for start in range(0, self.samples, self.batch):
            k = min(self.batch, self.samples - start)
            grad, loss = self.inner(model, x.repeat(k, *([1] * (x.ndim - 1))), y.repeat(k), generator)
            grad_sum += grad.view(k, *x.shape).sum(0)
            loss_sum += loss.view(k, x.shape[0]).sum(0)
        return grad_sum / self.samples, loss_sum / self.samples
