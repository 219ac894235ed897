"""Gradient estimators: how an update rule gets ∇ₓ loss. Update rules never compute gradients themselves.

An estimator is called as ``estimator(model, x, y, generator) -> (grad, loss)`` with per-sample ``loss``
(shape (B,)) and ``grad`` = ∂ Σ loss / ∂x (or an estimate of it), so each example's gradient is independent
of the batch. ``mode`` names how the gradient was obtained and goes into every result: ``exact``
(backpropagation through the defended model), ``eot`` (mean over random draws), ``nes`` (queries only,
never a gradient), ``transfer`` (another model's gradient; the attacked model is never queried).
``draws_per_gradient`` and ``passes_per_gradient`` say what one estimate costs: fresh draws of the
defense's randomness averaged into it, and forward passes of the attacked model.

The estimators an attack can be given by name (``-o gradient=eot:20``) are registered in
``attacks.estimators``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from attacks.losses import Loss, cross_entropy
from bench.errors import BadParameter

Model = Callable[..., Tensor]


class GradientEstimator(ABC):
    """``estimator(model, x, y, generator) -> (grad, loss)``; see the module docstring."""

    mode: str
    draws_per_gradient: int = 1  # fresh draws of the defense's randomness averaged into one estimate
    passes_per_gradient: int = 1  # forward passes of the attacked model per estimate

    @abstractmethod
    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        ...


def _copies(t: Tensor, k: int) -> Tensor:
    """``k`` stacked copies of a batch along the batch dimension (copy-major)."""
    return t.repeat(k, *([1] * (t.ndim - 1)))


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


class _MeanOverCopies(GradientEstimator):
    """The mean of ``inner`` over ``copies`` copies of the batch, ``batch`` copies per call (memory bound)."""

    def __init__(self, inner: GradientEstimator, copies: int, batch: int | None = None):
        if copies < 1 or (batch is not None and batch < 1):
            raise BadParameter(f"{type(self).__name__}: needs at least one copy and a batch of at least one")
        self.inner, self.copies, self.batch = inner, copies, batch or copies

    @property
    def draws_per_gradient(self) -> int:  # type: ignore[override]
        # every copy is a row of its own in the forward pass, so it gets a fresh draw of the defense
        return self.copies * self.inner.draws_per_gradient

    @property
    def passes_per_gradient(self) -> int:  # type: ignore[override]
        return self.copies * self.inner.passes_per_gradient

    def transform(self, model: Model, k: int, batch: int, generator: torch.Generator) -> Model:
        return model

    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        grad_sum = torch.zeros_like(x)
        loss_sum = torch.zeros(x.shape[0], device=x.device)
        for start in range(0, self.copies, self.batch):
            k = min(self.batch, self.copies - start)
            inner_model = self.transform(model, k, x.shape[0], generator)
            grad, loss = self.inner(inner_model, _copies(x, k), y.repeat(k), generator)
            grad_sum += grad.view(k, *x.shape).sum(0)
            loss_sum += loss.view(k, x.shape[0]).sum(0)
        return grad_sum / self.copies, loss_sum / self.copies


class EOT(_MeanOverCopies):
    """Expectation over transformation (Athalye et al., ICML 2018): the mean of ``samples`` gradients of
    ``inner``, each from a fresh draw of the defense's randomness. Copies of the batch are stacked
    ``batch`` at a time (all at once when None), so memory stays bounded."""

    def __init__(self, inner: GradientEstimator, samples: int, batch: int | None = None):
        if samples < 1:
            raise BadParameter("EOT needs at least one sample")
        super().__init__(inner, samples, batch)
        self.samples = samples

    @property
    def mode(self) -> str:  # type: ignore[override]
        # Averaging query-only or transferred estimates keeps them query-only or transferred.
        return "eot" if self.inner.mode == "exact" else self.inner.mode


def time_shift(x: Tensor, offsets: Tensor) -> Tensor:
    """Each row of ``x`` (N, C, T) delayed by its offset (negative: advanced), vacated samples zero."""
    n, c, t = x.shape
    index = torch.arange(t, device=x.device).unsqueeze(0) - offsets.unsqueeze(1)  # (N, T)
    valid = (index >= 0) & (index < t)
    shifted = x.gather(2, index.clamp(0, t - 1).unsqueeze(1).expand(n, c, t))
    return shifted * valid.unsqueeze(1).to(x.dtype)


class TimeShift(_MeanOverCopies):
    """The mean of ``inner`` over ``copies`` copies of the example, each shifted in time by an offset drawn
    uniformly from [−max_shift, max_shift] samples (zero filled); the gradient flows back through the shift."""

    def __init__(self, inner: GradientEstimator, copies: int, max_shift: int, batch: int | None = None):
        if max_shift < 0:
            raise BadParameter(f"time shift: max_shift must be >= 0, got {max_shift}")
        super().__init__(inner, copies, batch)
        self.max_shift = max_shift

    @property
    def mode(self) -> str:  # type: ignore[override]
        return self.inner.mode

    def transform(self, model: Model, k: int, batch: int, generator: torch.Generator) -> Model:
        device = generator.device
        offsets = torch.randint(-self.max_shift, self.max_shift + 1, (k * batch,), generator=generator, device=device)

        def shifted(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
            return model(time_shift(x, offsets.to(x.device)), generator=generator)

        return shifted


class NES(GradientEstimator):
    """Natural evolution strategies (Wierstra et al. 2014; Ilyas et al., ICML 2018, Eq. 2, antithetic).

    ĝ = 1/(σ n) Σᵢ L(x + σ uᵢ) uᵢ with uᵢ ~ N(0, I) in pairs (u, −u); the returned loss is the mean of the n
    queried losses. It runs under ``no_grad`` and reads only the logits: query access, never a gradient.
    ``batch`` noisy copies of each example go through the model per call (n = ``samples``).
    """

    mode = "nes"

    def __init__(self, sigma: float, samples: int, batch: int | None = None, loss: Loss = cross_entropy):
        if samples < 2 or samples % 2 or sigma <= 0 or (batch is not None and batch < 2):
            raise BadParameter("NES needs an even number of samples >= 2, sigma > 0 and a batch of >= 2 copies")
        self.sigma, self.samples, self.loss = sigma, samples, loss
        self.pairs_per_call = (batch or samples) // 2
        # every query is a forward pass with a fresh draw, and ĝ is their weighted mean
        self.draws_per_gradient = self.passes_per_gradient = samples

    @torch.no_grad()
    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x = x.detach()
        grad = torch.zeros_like(x)
        loss_sum = torch.zeros(x.shape[0], device=x.device)
        pairs = self.samples // 2
        for start in range(0, pairs, self.pairs_per_call):
            k = min(self.pairs_per_call, pairs - start)
            u = torch.randn((k, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
            u = torch.cat([u, -u])  # (2k, B, ...)
            queries = (x.unsqueeze(0) + self.sigma * u).flatten(0, 1)
            loss = self.loss(model(queries, generator=generator), y.repeat(2 * k)).view(2 * k, x.shape[0])
            grad += (loss.view(*loss.shape, *([1] * (x.ndim - 1))) * u).sum(0)
            loss_sum += loss.sum(0)
        return grad / (self.samples * self.sigma), loss_sum / self.samples


class Transfer(GradientEstimator):
    """``inner`` run on a surrogate model instead of the attacked one: the attacked model is never queried."""

    mode = "transfer"
    draws_per_gradient = 0  # the attacked model, and so the defense, never runs
    passes_per_gradient = 0

    def __init__(self, surrogate: Model, inner: GradientEstimator):
        self.surrogate, self.inner = surrogate, inner

    def __call__(self, model: Model, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.inner(self.surrogate, x, y, generator)
