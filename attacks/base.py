"""What every attack shares: the threat model, the one projection, the budget check and the step rules."""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from bench.errors import BadParameter, BudgetViolation

Norm = Literal["linf", "l2"]
DEFAULT_EPS: dict[str, float] = {"linf": 0.002, "l2": 0.253}  # the papers' budgets (released_code_spec §6.1)
CLIP = (-1.0, 1.0)  # float waveforms
StepCallback = Callable[[int, Tensor], None]


def _per_sample(v: Tensor | float, like: Tensor) -> Tensor | float:
    """A per-example value (shape (B,)) shaped to broadcast over ``like``; a float stays a float."""
    return v.view(-1, *([1] * (like.ndim - 1))) if isinstance(v, Tensor) else v


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


def linf_step(grad: Tensor, step_size: float | Tensor) -> Tensor:
    """Steepest ascent for L∞: a signed step (``step_size`` a float or one value per example)."""
    return _per_sample(step_size, grad) * grad.sign()


def l2_step(grad: Tensor, step_size: float | Tensor) -> Tensor:
    """Steepest ascent for L2: the per-example normalised gradient."""
    return _per_sample(step_size, grad) * grad / _per_sample(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)


STEPS: dict[str, Callable[[Tensor, float | Tensor], Tensor]] = {"linf": linf_step, "l2": l2_step}


def checked_budget(attack: str, norm: str, eps: float | None,
                   defaults: dict[str, float] = DEFAULT_EPS) -> tuple[Norm, float]:
    """The attack's norm and ε (``defaults[norm]`` when None), or one clear line when they are invalid."""
    if norm not in STEPS:
        raise BadParameter(f"{attack}: norm must be linf or l2, got {norm!r}")
    value = float(defaults[norm] if eps is None else eps)
    if not (math.isfinite(value) and value > 0):  # an infinite ball is no budget; NaN compares false to all
        raise BadParameter(f"{attack}: eps must be a finite number > 0, got {value:g}")
    return norm, value  # type: ignore[return-value]


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
    # ε when the user gives none, per norm; ``bench report`` reads it to tell which record a grid cell means
    default_eps: ClassVar[dict[str, float]] = DEFAULT_EPS

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

    @property
    def expected_steps(self) -> int:
        """How many times ``perturb`` calls ``on_step`` per batch (for progress bars; 0 when unknown)."""
        return int(getattr(self, "steps", 0) or 0) * int(getattr(self, "restarts", 1) or 1)

    @property
    def prefix_consistent(self) -> bool:
        """Whether stopping this attack after k of its steps gives exactly the attack configured with k steps
        (step size and schedule independent of the step count, last iterate returned, no restarts), so that
        PGD-10 can be scored inside a PGD-100 trajectory. False unless an attack says otherwise."""
        return False

    def truncated(self, steps: int) -> Attack:
        """A copy of this attack configured with ``steps`` steps; only meaningful when ``prefix_consistent``,
        for labelling and recording the attack that a scored prefix of the trajectory is."""
        clone = copy.copy(self)
        clone.steps = steps  # type: ignore[attr-defined]
        return clone

    @property
    def classes(self) -> tuple[str, ...] | None:
        """The class names the attack's own model was trained on (a transfer surrogate), checked against the data."""
        return None
