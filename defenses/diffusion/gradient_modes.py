"""Gradient modes of the diffusion purifiers (``-o grad=exact|checkpoint|surrogate``, ``-o surrogate_steps=K``).

- ``exact``: autograd through every network call, every activation kept (memory grows with the calls).
- ``checkpoint``: the same gradient, with activation checkpointing around each network call (Chen et al.,
  arXiv:1604.06174), the full gradients DiffAttack (Kang et al., NeurIPS 2023) and MEFA compute: a call
  keeps only its inputs and is recomputed in backward, so memory hardly grows with the reverse steps.
- ``surrogate``: Lee & Kim, "Robust Evaluation of Diffusion-Based Adversarial Purification", ICCV 2023
  (github.com/ml-postech/robust-evaluation-of-diffusion-based-purification): the output is the defense's
  own (every reverse step, the same draws), the gradient that of a surrogate purifier with K < (network
  calls) deterministic DDIM steps from the same noised input; K = 0 takes the denoiser's gradient as the
  identity (BPDA, Athalye et al., ICML 2018), the only surrogate of a one-call purifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from bench.errors import BadParameter
from defenses.base import Defense
from defenses.diffusion.schedule import NoiseSchedule
from defenses.diffusion.steps import EpsNet, checkpointed, ddim

GradientMode = Literal["exact", "checkpoint", "surrogate"]


def checked_surrogate_steps(grad: str, surrogate_steps: int | None, calls: int) -> int | None:
    """The surrogate's step count K under ``grad`` (None unless ``surrogate``); by default 1, or 0 for a
    purifier of one network call. One-line errors for K without ``surrogate`` and K outside 0..calls − 1."""
    if grad != "surrogate":
        if surrogate_steps is not None:
            raise BadParameter(f"surrogate_steps={surrogate_steps} needs grad=surrogate (got grad={grad}); "
                               "add -o grad=surrogate or drop surrogate_steps")
        return None
    steps = min(1, calls - 1) if surrogate_steps is None else surrogate_steps
    if not 0 <= steps < calls:
        raise BadParameter(f"surrogate_steps={steps} must be in 0..{calls - 1}: fewer than the {calls} network "
                           "call(s) this defense runs")
    return steps


def straight_through(value: Tensor, surrogate: Tensor) -> Tensor:
    """``value``'s numbers with ``surrogate``'s gradient: value.detach() + (surrogate − surrogate.detach())."""
    return value.detach() + (surrogate - surrogate.detach())


class GradientModes(Defense):
    """A diffusion purifier offering the gradient modes above; its recipe runs the network through
    ``denoised``. Subclasses say how many network calls one purification makes (``network_calls``)."""

    # New options: left out of a cell's spec at these values, so records made before them keep their ids.
    spec_defaults: ClassVar[dict[str, Any]] = {"grad": "exact", "surrogate_steps": None}
    net: torch.nn.Module
    schedule: NoiseSchedule
    grad: str = "exact"
    surrogate_steps: int | None = None

    @classmethod
    def network_calls(cls, params: Mapping[str, Any]) -> int:
        """The ε-network calls one purification with these parameters makes."""
        return 1

    @classmethod
    def spec_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The checked parameters with the surrogate's K resolved (recorded: it defines the gradient)."""
        steps = checked_surrogate_steps(params["grad"], params["surrogate_steps"], cls.network_calls(params))
        return super().spec_params({**params, "surrogate_steps": steps})

    def set_gradient(self, grad: str, surrogate_steps: int | None, params: Mapping[str, Any]) -> None:
        """Check and keep the mode (recorded as the defense's ``gradient_mode``) and the surrogate's K."""
        self.surrogate_steps = checked_surrogate_steps(grad, surrogate_steps, self.network_calls(params))
        self.grad = self.gradient_mode = grad

    def denoised(self, x_t: Tensor, t: int, real: Callable[[EpsNet], Tensor]) -> Tensor:
        """``real(net)``, the defense's denoising from x_t at step t, under the gradient mode: through the
        checkpointed network under ``checkpoint``; under ``surrogate`` run without a graph and given the
        gradient of ``ddim`` with K steps from the same x_t (its draws, so the output, are unchanged)."""
        if self.grad == "checkpoint":
            return real(checkpointed(self.net))
        if self.grad != "surrogate":
            return real(self.net)
        with torch.no_grad():
            value = real(self.net)
        return straight_through(value, ddim(self.net, self.schedule, x_t, t, self.surrogate_steps or 0))
