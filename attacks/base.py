"""What every attack shares: the threat model, the one projection, the budget check and the step rules."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from bench.errors import BudgetViolation

Norm = Literal["linf", "l2"]
DEFAULT_EPS: dict[str, float] = {"linf": 0.002, "l2": 0.253}  # the papers' budgets (released_code_spec §6.1)
CLIP = (-1.0, 1.0)  # float waveforms
StepCallback = Callable[[int, Tensor], None]


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def project(x_adv: Tensor, x: Tensor, eps: float, norm: Norm, clip: tuple[float, float] = CLIP) -> Tensor:
    """Project ``x_adv`` onto the ``norm`` ball of radius ``eps`` around ``x``, then onto the sample range.

    The range clamp only shrinks each coordinate of the perturbation (``x`` is inside the range), so the
    result stays inside the ball. Every attack uses this one function.
    """
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    elif norm == "l2":
        scale = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
        delta = delta * _per_sample(scale, delta)
    else:
        raise ValueError(f"unknown norm {norm!r}")
    return (x + delta).clamp(*clip)


def linf_step(grad: Tensor, step_size: float) -> Tensor:
    return step_size * grad.sign()


def l2_step(grad: Tensor, step_size: float) -> Tensor:
    return step_size * grad / _per_sample(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)


STEPS: dict[str, Callable[[Tensor, float], Tensor]] = {"linf": linf_step, "l2": l2_step}


def random_start(x: Tensor, eps: float, norm: Norm, generator: torch.Generator) -> Tensor:
    """A uniformly random point of the ball (L∞: uniform per sample; L2: uniform direction and radius)."""
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        direction = direction / _per_sample(direction.flatten(1).norm(dim=1), x)
        u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
        delta = direction * _per_sample(eps * u ** (1.0 / x[0].numel()), x)
    return project(x + delta, x, eps, norm)


@dataclass(frozen=True)
class BudgetReport:
    norm: str
    eps: float
    max_linf: float
    max_l2: float
    violations: int  # samples outside the ε-ball
    out_of_range: int  # samples with a value outside [-1, 1]
    non_finite: int  # samples with NaN or Inf

    @property
    def ok(self) -> bool:
        return self.violations == 0 and self.out_of_range == 0 and self.non_finite == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_budget(x_adv: Tensor, x: Tensor, eps: float, norm: Norm, clip: tuple[float, float] = CLIP) -> BudgetReport:
    """Measure every example against its budget and range (in float64, with float32 rounding allowance)."""
    delta = (x_adv.detach().double() - x.detach().double()).flatten(1)
    linf, l2 = delta.abs().amax(1), delta.norm(dim=1)
    distance = linf if norm == "linf" else l2
    tolerance = 1e-6 + 1e-5 * eps
    finite = torch.isfinite(x_adv).flatten(1).all(1)
    in_range = ((x_adv >= clip[0]) & (x_adv <= clip[1])).flatten(1).all(1)
    return BudgetReport(
        norm=norm,
        eps=eps,
        max_linf=float(linf.nan_to_num(float("inf")).max()) if len(linf) else 0.0,
        max_l2=float(l2.nan_to_num(float("inf")).max()) if len(l2) else 0.0,
        violations=int((~(distance <= eps + tolerance)).sum()),
        out_of_range=int((~in_range & finite).sum()),
        non_finite=int((~finite).sum()),
    )


def enforce_budget(report: BudgetReport, attack: str) -> None:
    if not report.ok:
        raise BudgetViolation(
            f"attack {attack} broke its budget ({report.norm} eps={report.eps}): {report.violations} outside the "
            f"ball (max L∞ {report.max_linf:.3g}, max L2 {report.max_l2:.3g}), {report.out_of_range} out of "
            f"[-1, 1], {report.non_finite} non-finite; this is a bug in the attack, the cell was not recorded"
        )


class Attack(ABC):
    """An attack plugin: ``__init__`` keyword parameters are its options; ``perturb`` runs it.

    ``norm`` and ``eps`` define the budget every returned example is checked against.
    """

    norm: Norm
    eps: float

    @abstractmethod
    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        """Adversarial examples for ``x`` (labels ``y``) against ``model(x, generator=...)``; ``on_step`` is
        called with (step, current examples) after each iteration."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every parameter's effective value (defaults resolved), as recorded in results."""

    @property
    @abstractmethod
    def gradient_mode(self) -> str:
        """How the attack obtains gradients: ``exact``, ``eot``, ``nes``, ``transfer`` ..."""

    def label(self) -> str:
        return type(self).__name__
