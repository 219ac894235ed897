"""TSMI-FGSM: MI-FGSM whose per-step surrogate gradient is averaged over randomly time-shifted copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attacks.estimators import GradientChoice, choose_gradient
from attacks.gradients import GradientEstimator, TimeShift, Transfer
from attacks.mifgsm import MIFGSM
from bench.errors import BadParameter
from bench.registry import register


@register("attack", "tsmifgsm")
class TSMIFGSM(MIFGSM):
    """TSMI-FGSM (Tan et al. 2022), n = 10, m = 1000, ε = 0.004, T = 70, μ = 1.0, crafted on a surrogate victim.

    "Improving adversarial transferability by temporal and spatial momentum in urban speaker recognition
    systems", Computers and Electrical Engineering 104, 108446. The paper's parameters are used as DualPure
    reports them (Tan et al., Interspeech 2024, Table 3; github.com/Sec4ai/DualPure has no transfer
    code); the TSMI-FGSM paper's definitions of n and m were not at hand, so this is our
    reading, by analogy with spatial-momentum MI-FGSM: each step's gradient is the mean over n = ``copies``
    copies of the current example, each shifted in time by an offset drawn uniformly from [−m, m] samples
    (m = ``max_shift``, zero filled; the gradient flows back through the shift), then the MI-FGSM momentum
    update g ← μ g + ∇̄/‖∇̄‖₁ and step α sign(g), α = ε/T. Copies go through the surrogate ``shift_batch``
    at a time. Everything else (surrogate, budget, ``transfer`` mode) is ``mifgsm``'s; ``gradient`` names the
    estimator averaged over the shifted copies (default autograd).
    """

    def __init__(self, norm: str = "linf", eps: float | None = None, steps: int = 70, step_size: float | None = None,
                 decay: float = 1.0, copies: int = 10, max_shift: int = 1000, shift_batch: int | None = None,
                 surrogate: str = "vgg19", surrogate_config: str = "slim", surrogate_weights: Path | None = None,
                 gradient: str | None = None):
        if copies < 1 or max_shift < 0 or (shift_batch is not None and shift_batch < 1):
            raise BadParameter("tsmifgsm: needs copies >= 1, max_shift >= 0 and shift_batch >= 1")
        self.copies, self.max_shift, self.shift_batch = copies, max_shift, shift_batch
        self._setup("tsmifgsm", norm, eps, steps, step_size, decay, surrogate, surrogate_config, surrogate_weights)
        self.gradient_choice = choose_gradient("tsmifgsm", gradient, has_eot=False)
        self.estimator = self.on_surrogate(self.gradient_choice)

    def on_surrogate(self, choice: GradientChoice) -> GradientEstimator:
        shifted = TimeShift(choice.estimator, self.copies, self.max_shift, self.shift_batch)
        return Transfer(self.surrogate.model, shifted)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "copies": self.copies, "max_shift": self.max_shift,
                "shift_batch": self.shift_batch}

    def label(self) -> str:
        return "TS" + super().label() + f" n={self.copies} m={self.max_shift}"
