"""MI-FGSM: momentum iterative FGSM crafted on a surrogate victim, evaluated on the defended target."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, StepCallback
from attacks.estimators import GradientChoice, choose_gradient
from attacks.gradients import GradientEstimator, Transfer
from attacks.norms import NormDefaults
from attacks.rules import Momentum, ascend
from attacks.surrogate import load_surrogate
from bench.errors import BadParameter
from bench.registry import register


@register("attack", "mifgsm")
class MIFGSM(Attack):
    """MI-FGSM (Dong et al., CVPR 2018), μ = 1.0, crafted on a surrogate victim; the defended target only scores it.

    "Boosting Adversarial Attacks with Momentum", Alg. 1 / Eq. 6–7: g ← μ g + ∇/‖∇‖₁, x ← Π(x + α sign(g))
    (L2: α g/‖g‖₂) with α = ε/T, on the cross-entropy of the undefended ``surrogate`` victim (``bench list
    victims``; its shipped ``surrogate_config`` weights, or ``surrogate_weights``). The target is never
    queried while crafting: gradient mode ``transfer``. Defaults ε = 0.004 (the norm's ``transfer_eps``),
    T = 70 steps, like ``tsmifgsm``, so the two compare (DualPure, Tan et al., Interspeech 2024, Table 3; the
    paper gives μ but neither ε nor T for MI-FGSM, and github.com/Sec4ai/DualPure has no transfer code).
    ``gradient`` names the estimator run on the surrogate (default autograd; ``timeshift:10`` is TSMI-FGSM's).
    """

    default_eps = NormDefaults("transfer_eps")

    def __init__(self, norm: str = "linf", eps: float | None = None, steps: int = 70, step_size: float | None = None,
                 decay: float = 1.0, surrogate: str = "vgg19", surrogate_config: str = "slim",
                 surrogate_weights: Path | None = None, gradient: str | None = None):
        self._setup("mifgsm", norm, eps, steps, step_size, decay, surrogate, surrogate_config, surrogate_weights)
        self.gradient_choice = choose_gradient("mifgsm", gradient, has_eot=False)
        self.estimator = self.on_surrogate(self.gradient_choice)

    def _setup(self, name: str, norm: str, eps: float | None, steps: int, step_size: float | None, decay: float,
               surrogate: str, surrogate_config: str, surrogate_weights: Path | None) -> None:
        self.set_budget(name, norm, eps)
        if steps < 1 or decay < 0:
            raise BadParameter(f"{name}: needs steps >= 1 and decay >= 0")
        self.steps, self.decay = steps, decay
        self.step_size = float(step_size if step_size is not None else self.eps / steps)
        self.surrogate = load_surrogate(surrogate, surrogate_config, surrogate_weights)

    def on_surrogate(self, choice: GradientChoice) -> GradientEstimator:
        """The chosen estimator run on the surrogate; subclasses change what is averaged before the momentum."""
        return Transfer(self.surrogate.model, choice.estimator)

    def params(self) -> dict[str, Any]:
        s = self.surrogate.spec
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "step_size": self.step_size,
                "decay": self.decay, "surrogate": s["name"], "surrogate_config": s["config"],
                "surrogate_weights": f"sha256:{s['weights_sha256']}",
                **({"gradient": self.gradient_choice.text} if self.gradient_choice.text else {})}

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.surrogate.classes

    def label(self) -> str:
        return (f"MI-FGSM-{self.steps} {self.geometry.label} ε={self.eps:g}{self.gradient_choice.label} "
                f"← {self.surrogate.spec['name']}")

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        self.surrogate.model.to(x.device)
        return ascend(model, x, y, generator, x.clone(), self.estimator, self.geometry, self.eps, self.step_size,
                      self.steps, direction=Momentum(self.decay), on_step=on_step)
