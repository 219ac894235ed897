"""MI-FGSM: momentum iterative FGSM crafted on a surrogate victim, evaluated on the defended target."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, Norm, StepCallback, checked_budget
from attacks.gradients import Autograd, GradientEstimator, Transfer
from attacks.rules import Momentum, ascend
from attacks.surrogate import load_surrogate
from bench.errors import BadParameter
from bench.registry import register

# Transfer budgets: the paper's ε = 0.004 is twice the white-box L∞ one; L2 doubles likewise.
TRANSFER_EPS: dict[str, float] = {"linf": 0.004, "l2": 0.506}


@register("attack", "mifgsm")
class MIFGSM(Attack):
    """MI-FGSM (Dong et al., CVPR 2018), μ = 1.0, crafted on a surrogate victim; the defended target only scores it.

    "Boosting Adversarial Attacks with Momentum", Alg. 1 / Eq. 6–7: g ← μ g + ∇/‖∇‖₁, x ← Π(x + α sign(g))
    (L2: α g/‖g‖₂) with α = ε/T, on the cross-entropy of the undefended ``surrogate`` victim (``bench list
    victims``; its shipped ``surrogate_config`` weights, or ``surrogate_weights``). The target is never
    queried while crafting: gradient mode ``transfer``. Defaults ε = 0.004, T = 70 steps, like ``tsmifgsm``,
    so the two compare (DualPure Table 3; released_code_spec §6.3).
    """

    default_eps = TRANSFER_EPS

    def __init__(self, norm: Norm = "linf", eps: float | None = None, steps: int = 70, step_size: float | None = None,
                 decay: float = 1.0, surrogate: str = "vgg19", surrogate_config: str = "slim",
                 surrogate_weights: Path | None = None):
        self._setup("mifgsm", norm, eps, steps, step_size, decay, surrogate, surrogate_config, surrogate_weights)

    def _setup(self, name: str, norm: Norm, eps: float | None, steps: int, step_size: float | None, decay: float,
               surrogate: str, surrogate_config: str, surrogate_weights: Path | None) -> None:
        self.norm, self.eps = checked_budget(name, norm, eps, self.default_eps)
        if steps < 1 or decay < 0:
            raise BadParameter(f"{name}: needs steps >= 1 and decay >= 0")
        self.steps, self.decay = steps, decay
        self.step_size = float(step_size if step_size is not None else self.eps / steps)
        self.surrogate = load_surrogate(surrogate, surrogate_config, surrogate_weights)

    def estimator(self) -> GradientEstimator:
        """The surrogate's gradient; subclasses change what is averaged before the momentum update."""
        return Transfer(self.surrogate.model, Autograd())

    def params(self) -> dict[str, Any]:
        s = self.surrogate.spec
        return {"norm": self.norm, "eps": self.eps, "steps": self.steps, "step_size": self.step_size,
                "decay": self.decay, "surrogate": s["name"], "surrogate_config": s["config"],
                "surrogate_weights": f"sha256:{s['weights_sha256']}"}

    @property
    def gradient_mode(self) -> str:
        return "transfer"

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.surrogate.classes

    def label(self) -> str:
        norm = "L∞" if self.norm == "linf" else "L2"
        return f"MI-FGSM-{self.steps} {norm} ε={self.eps:g} ← {self.surrogate.spec['name']}"

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        self.surrogate.model.to(x.device)
        return ascend(model, x, y, generator, x.clone(), self.estimator(), self.norm, self.eps, self.step_size,
                      self.steps, direction=Momentum(self.decay), on_step=on_step)
