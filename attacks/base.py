"""What every attack shares: the threat model (norm and ε), the budget check, and what the harness reads.

The geometry of each norm (projection, step, random start, distance) lives in ``attacks.norms``.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from attacks.gradients import GradientEstimator
from attacks.norms import CLIP, Norm, NormDefaults, get_norm
from bench.errors import BadParameter, BudgetViolation

__all__ = ["CLIP", "Attack", "Budget", "BudgetReport", "StepCallback", "check_budget", "checked_budget",
           "enforce_budget"]

StepCallback = Callable[[int, Tensor], None]


def checked_budget(attack: str, norm: str | Norm, eps: float | None,
                   defaults: Mapping[str, float] | None = None) -> tuple[Norm, float]:
    """The attack's norm object and ε (``defaults[norm]`` when None, the norm's own ``default_eps`` without
    ``defaults``), or one clear line when they are invalid."""
    geometry = get_norm(norm, f"attack {attack!r}")
    value = float((defaults[geometry.name] if defaults is not None else geometry.default_eps) if eps is None else eps)
    if not (math.isfinite(value) and value > 0):  # an infinite ball is no budget; NaN compares false to all
        raise BadParameter(f"{attack}: eps must be a finite number > 0, got {value:g}")
    return geometry, value


@dataclass(frozen=True)
class Budget:
    """What every adversarial example of an attack is checked against: the norm's name and ε."""

    norm: str
    eps: float

    @property
    def geometry(self) -> Norm:
        return get_norm(self.norm)


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


def check_budget(x_adv: Tensor, x: Tensor, eps: float | Tensor, norm: str | Norm,
                 clip: tuple[float, float] = CLIP) -> BudgetReport:
    """Measure every example against its budget (``norm``: a name or a norm object; ``eps``: one radius, or
    one per example for a relative budget) and range, in float64 with a float32 rounding allowance. The
    largest L∞ and L2 sizes are reported whatever the norm; ``eps`` reports the largest radius."""
    geometry = get_norm(norm)
    delta = (x_adv.detach().double() - x.detach().double()).flatten(1)
    linf, l2 = delta.abs().amax(1), delta.norm(dim=1)
    distance = geometry.distance(delta)
    radius = torch.as_tensor(eps.detach() if isinstance(eps, Tensor) else eps, dtype=torch.float64)
    radius = radius.flatten().to(distance.device)  # one radius for all, or one per example
    inside = distance <= radius + (1e-6 + 1e-5 * radius)
    if isinstance(eps, Tensor):
        eps = float(radius.max()) if len(radius) else 0.0
    finite = torch.isfinite(x_adv).flatten(1).all(1)
    in_range = ((x_adv >= clip[0]) & (x_adv <= clip[1])).flatten(1).all(1)
    return BudgetReport(
        norm=geometry.name,
        eps=eps,
        max_linf=float(linf.nan_to_num(float("inf")).max()) if len(linf) else 0.0,
        max_l2=float(l2.nan_to_num(float("inf")).max()) if len(l2) else 0.0,
        violations=int((~inside).sum()),
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

    ``norm`` (the norm's name, as recorded) and ``eps`` define the budget every returned example is checked
    against; ``geometry`` is the norm object the attack computes with (``set_budget`` sets all three).
    An attack that keeps its gradient estimator in ``estimator`` gets ``gradient_mode``,
    ``draws_per_gradient`` and ``passes_per_gradient`` from it.
    """

    norm: str
    eps: float
    geometry: Norm
    # the attack and the final evaluation run on one known purifier draw per clip (``bench.fixed_draws``);
    # set by ``set_fixed_randomness`` in attacks that take the ``fixed_randomness`` option
    fixed_randomness: bool = False
    # ε when the user gives none, per norm name (each norm's own ``default_eps``); the grid matcher reads it
    # to tell which record a grid cell means
    default_eps: ClassVar[Mapping[str, float]] = NormDefaults("default_eps")

    def set_budget(self, owner: str, norm: str | Norm, eps: float | None) -> None:
        """Resolve and check ``norm`` and ``eps`` (``default_eps`` when None); one line when invalid."""
        self.geometry, self.eps = checked_budget(owner, norm, eps, self.default_eps)
        self.norm = self.geometry.name

    def budget_eps(self, x: Tensor) -> float | Tensor:
        """The radius each example of clean clips ``x`` is checked against: ``eps``, or one per clip for an
        attack with a budget relative to each clip (PGD's ``eps_db``)."""
        return self.eps

    def set_fixed_randomness(self, owner: str, fixed: bool) -> None:
        """Fixed randomness (Liu et al., ICLR 2025): one known draw per clip; EOT over it would average one
        gradient with itself, so it needs one draw per gradient."""
        if fixed and self.draws_per_gradient > 1:
            raise BadParameter(f"{owner}: fixed_randomness fixes one draw per clip, so EOT over it averages the "
                               "same gradient; use eot=1")
        self.fixed_randomness = bool(fixed)

    def fixed_params(self) -> dict[str, Any]:
        """``fixed_randomness`` for the record, only when set (older cells keep their ids)."""
        return {"fixed_randomness": True} if self.fixed_randomness else {}

    @property
    def evaluation_draws(self) -> int:
        """Fresh draws per clip the attack's own scoring uses (DiffHammer's N-evaluation); the cell must store
        at least as many, so its worst@N and avg@N are the attack's. 0: none."""
        return 0

    @property
    def budget(self) -> Budget:
        """The norm (name) and ε every returned example is checked against."""
        return Budget(self.norm, self.eps)

    @property
    def draws_per_gradient(self) -> int:
        """Fresh draws of the defense's randomness averaged into one gradient estimate: the EOT sample count
        (1 for one backpropagation, 0 when the defense never runs, as in transfer attacks)."""
        estimator = getattr(self, "estimator", None)
        return estimator.draws_per_gradient if isinstance(estimator, GradientEstimator) else 1

    @property
    def passes_per_gradient(self) -> int:
        """Forward passes of the attacked model per gradient estimate (0 for transfer attacks)."""
        estimator = getattr(self, "estimator", None)
        return estimator.passes_per_gradient if isinstance(estimator, GradientEstimator) else 1

    @abstractmethod
    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        """Adversarial examples for ``x`` (labels ``y``) against ``model(x, generator=...)``; ``on_step`` is
        called with (step, current examples) after each iteration."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every parameter's effective value (defaults resolved), as recorded in results."""

    @property
    def gradient_mode(self) -> str:
        """How the attack obtains gradients: ``exact``, ``eot``, ``nes``, ``transfer`` ... (its estimator's
        ``mode``; an attack without an ``estimator`` must say)."""
        estimator = getattr(self, "estimator", None)
        if not isinstance(estimator, GradientEstimator):
            raise NotImplementedError(f"{type(self).__name__} has no estimator: override gradient_mode")
        return "fixed" if self.fixed_randomness and estimator.mode == "exact" else estimator.mode

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

    def take_outcomes(self) -> dict[str, Any]:
        """Per-clip outcomes the attack gathered since the last call (an ensemble's members), for the record,
        and forget them; empty for attacks that gather none."""
        return {}

    def merge_outcomes(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """The record's outcomes from each batch's (``take_outcomes`` after every batch, in order); an attack
        that gathers outcomes says how they join."""
        if any(parts):
            raise NotImplementedError(f"{type(self).__name__} gathers outcomes but does not say how to merge them")
        return {}

    @property
    def classes(self) -> tuple[str, ...] | None:
        """The class names the attack's own model was trained on (a transfer surrogate), checked against the data."""
        return None
