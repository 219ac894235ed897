"""The pieces of a selective attack on a randomized purifier (DiffHammer, Wang et al., NeurIPS 2024).

``n_draws`` purifies N copies of each clip with replayable per-clip draws and returns each draw's loss,
prediction and (optionally) gradient, at the purified input (cheap: the classifier only) or at the waveform
(full); ``em_direction`` is the EM selection of a shared direction; ``graft`` carries a direction given at
the purified input back to the waveform through one replayed draw; ``SelectionPolicy`` keeps, per clip,
the iterate most of whose N draws are wrong. A model without ``purify``/``classify`` stages is treated as a
classifier whose purified input is the waveform itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from attacks.losses import Loss, cross_entropy
from attacks.norms import Norm
from bench.row_draws import RowGenerators

Model = Callable[..., Tensor]


@dataclass
class DrawStats:
    """What N draws of a batch of B clips gave: losses, cross-entropies and wrong flags (N, B), gradients
    (N, B, D) flattened, or None when not asked for."""

    loss: Tensor
    ce: Tensor
    wrong: Tensor
    grads: Tensor | None


def _stages(model: Model, rows: RowGenerators | torch.Generator,
            ) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    purify = getattr(model, "purify", None)
    if purify is None:
        return (lambda w: w), (lambda m: model(m, generator=rows))
    return (lambda w: purify(w, rows)), model.classify


def n_draws(model: Model, x: Tensor, y: Tensor, streams: RowGenerators | torch.Generator, n: int, loss: Loss,
            batch: int | None = None, gradients: Literal["purified", "input"] | None = None) -> DrawStats:
    """Classify ``n`` stacked copies of ``x`` (copy-major), ``batch`` copies per call, with fresh draws from
    ``streams`` (``RowGenerators``: copy j of clip b from stream j·B + b, so any one can be replayed); with
    the loss's gradient at the purified input or at the waveform."""
    b = len(x)
    per = batch or n
    losses, ces, wrongs, grads = [], [], [], []
    for c0 in range(0, n, per):
        k = min(per, n - c0)
        rows = streams.rows(range(c0 * b, (c0 + k) * b)) if isinstance(streams, RowGenerators) else streams
        purify, classify = _stages(model, rows)
        xs, ys = x.detach().repeat(k, *([1] * (x.ndim - 1))), y.repeat(k)
        with torch.enable_grad():
            if gradients == "input":
                xs.requires_grad_(True)
                leaf = xs
                logits = classify(purify(xs))
            else:
                with torch.no_grad():
                    purified = purify(xs)
                leaf = purified.detach().requires_grad_(gradients == "purified")
                logits = classify(leaf) if gradients else classify(leaf).detach()
            values = loss(logits, ys)
            if gradients:
                (g,) = torch.autograd.grad(values.sum(), leaf)
                grads.append(g.detach().flatten(1).view(k, b, -1))
        logits = logits.detach()
        losses.append(values.detach().view(k, b))
        ces.append(cross_entropy(logits, ys).view(k, b))
        wrongs.append((logits.argmax(1) != ys).view(k, b))
    return DrawStats(torch.cat(losses), torch.cat(ces), torch.cat(wrongs), torch.cat(grads) if grads else None)


def _unit(v: Tensor, norm: Norm) -> Tensor:
    """The norm's unit ascent step along each row of ``v`` (..., D): sign for L∞, v/‖v‖₂ for L2."""
    flat = v.reshape(-1, v.shape[-1])
    return norm.step(flat, 1.0).view_as(v)


def em_direction(stats: DrawStats, norm: Norm, eta: float, lam: float, steps: int) -> tuple[Tensor, Tensor]:
    """DiffHammer's selective direction r (B, D) per clip, and per clip the draw most aligned with it (B,).

    Start: the draw a whose unit direction raises the others' first-order losses most, Σ_b elu(ℓ_b + η⟨u(g_a),
    g_b⟩); E-step w_i = σ(λ(ℓ_i + η⟨u(r), g_i⟩)); M-step r = Σ w_i g_i / Σ w_i.
    """
    g, loss = stats.grads, stats.loss
    assert g is not None, "em_direction needs the draws' gradients"
    clips = torch.arange(g.shape[1], device=g.device)
    gain = torch.einsum("abd,cbd->acb", _unit(g, norm), g)  # (candidate a, draw c, clip b)
    start = F.elu(loss.unsqueeze(0) + eta * gain).sum(1).argmax(0)
    r = g[start, clips]
    for _ in range(steps):
        expected = loss + eta * (_unit(r, norm).unsqueeze(0) * g).sum(-1)
        w = torch.sigmoid(lam * expected).unsqueeze(-1)
        r = (w * g).sum(0) / w.sum(0).clamp_min(1e-12)
    chosen = F.cosine_similarity(g, r.unsqueeze(0), dim=-1).argmax(0)
    return r, chosen


def graft(model: Model, x: Tensor, direction: Tensor, streams: RowGenerators, chosen: Tensor, b: int) -> Tensor:
    """Gradient grafting: ``direction`` (B, D at the purified input) carried back to the waveform through
    the purifier's Jacobian at each clip's ``chosen`` draw, replayed from its stream (one backward pass)."""
    purify = getattr(model, "purify", None)
    if purify is None:
        return direction.view_as(x)
    rows = streams.rows([int(j) * b + i for i, j in enumerate(chosen.tolist())])
    leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        purified = purify(leaf, rows)
        (g,) = torch.autograd.grad(purified, leaf, grad_outputs=direction.view_as(purified).to(purified.dtype))
    return g.detach()


class SelectionPolicy:
    """Per clip, the best iterate seen: the most of its N draws wrong, ties to the higher mean cross-entropy."""

    def __init__(self, x: Tensor):
        self.best = x.detach().clone()
        self.count = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
        self.ce = torch.full((len(x),), float("-inf"), device=x.device)

    def update(self, rows: Tensor, x_adv: Tensor, stats: DrawStats) -> None:
        count, ce = stats.wrong.sum(0), stats.ce.mean(0).nan_to_num(float("-inf"))
        better = (count > self.count[rows]) | ((count == self.count[rows]) & (ce > self.ce[rows]))
        index = rows[better]
        self.best[index] = x_adv[better].detach()
        self.count[index], self.ce[index] = count[better], ce[better]

    def unbroken(self, n: int) -> Tensor:
        """Clips not yet wrong under all ``n`` draws."""
        return torch.nonzero(self.count < n).flatten()

    def with_rows(self, rows: Tensor, x_adv: Tensor) -> Tensor:
        """The whole batch: the best iterates, with ``rows`` replaced by the current ones."""
        full = self.best.clone()
        full[rows] = x_adv.detach()
        return full
