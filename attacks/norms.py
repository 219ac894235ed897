"""Threat-model norms: one object per norm carries everything an attack or the budget check needs of it.

A norm is a plugin of kind ``norm`` (``@register("norm", "linf")``): its projection onto the ε-ball, its
steepest-ascent step, a uniform random start in the ball, the per-example distance the budget check
measures, its label, its default budgets and the PGD step size. ``pgd``, ``apgd``, ``mifgsm``,
``tsmifgsm``, ``fakebob``, ``art``, the restarts and ``attacks.base.check_budget`` read them all from
here, so a new norm (L1, say) is one subclass of ``Norm`` with one decorator; ``-o norm=l1`` then works
with every attack that takes a ``norm``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import ClassVar

import torch
from torch import Tensor

from bench.errors import BadParameter, UnknownPlugin
from bench.registry import REGISTRY, register

CLIP = (-1.0, 1.0)  # float waveforms


def per_sample(v: Tensor | float, like: Tensor) -> Tensor | float:
    """A per-example value (shape (B,)) shaped to broadcast over ``like``; a float stays a float."""
    return v.view(-1, *([1] * (like.ndim - 1))) if isinstance(v, Tensor) else v


class Norm(ABC):
    """The geometry of one threat model. Subclasses set the class attributes and the four maths methods.

    ``project`` is the ball projection followed by the range clamp: the clamp only shrinks each coordinate
    of the perturbation (the clean input lies inside the range), so the result stays inside the ball.
    """

    name: ClassVar[str]  # the registry name, recorded in every record's attack parameters
    label: ClassVar[str]  # for tables and attack labels: "L∞", "L2"
    p: ClassVar[float]  # the exponent of the Lp norm (math.inf for L∞): ART's ``norm``, and listing order
    default_eps: ClassVar[float]  # the white-box budget when none is given
    transfer_eps: ClassVar[float]  # the transfer attacks' budget (MI-FGSM, TSMI-FGSM)
    pgd_step_divisor: ClassVar[float]  # PGD's default step is ε / this

    @abstractmethod
    def ball(self, delta: Tensor, eps: float) -> Tensor:
        """``delta`` projected onto the ball of radius ``eps`` (per example, batch first)."""

    @abstractmethod
    def step(self, grad: Tensor, step_size: float | Tensor) -> Tensor:
        """The steepest-ascent step of length ``step_size`` (a float or one value per example) along ``grad``."""

    @abstractmethod
    def random_start(self, x: Tensor, eps: float, generator: torch.Generator) -> Tensor:
        """A uniformly random point of the ball around ``x``, in the range, drawn from ``generator``."""

    @abstractmethod
    def distance(self, delta: Tensor) -> Tensor:
        """Per-example size of flattened perturbations ``delta`` (B, D), as the budget check measures it."""

    def project(self, x_adv: Tensor, x: Tensor, eps: float, clip: tuple[float, float] = CLIP) -> Tensor:
        """``x_adv`` projected onto the ball of radius ``eps`` around ``x``, then onto the sample range."""
        return (x + self.ball(x_adv - x, eps)).clamp(*clip)

    def default_step_size(self, eps: float) -> float:
        """PGD's step when none is given (AudioPure/DualPure's ε/5 for L∞, ε/2 for L2)."""
        return float(eps / self.pgd_step_divisor)

    @property
    def art_norm(self) -> float:
        """ART's ``norm`` argument (``np.inf``, 2, 1): the exponent."""
        return self.p

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register("norm", "linf")
class LInf(Norm):
    """L∞: clamp each sample of δ to [−ε, ε]; signed steps (Madry et al., ICLR 2018, Eq. 2; FGSM's sign).

    Budgets ε = 0.002 white-box and 0.004 transfer, PGD step ε/5, as in AudioPure (Wu et al., ICLR 2023,
    github.com/cychomatica/AudioPure, robustness_eval/white_box_attack.py) and DualPure (Tan et al.,
    Interspeech 2024, github.com/Sec4ai/DualPure; Table 3 for the transfer budget).
    """

    name, label, p = "linf", "L∞", math.inf
    default_eps, transfer_eps, pgd_step_divisor = 0.002, 0.004, 5

    def ball(self, delta: Tensor, eps: float) -> Tensor:
        return delta.clamp(-eps, eps)

    def step(self, grad: Tensor, step_size: float | Tensor) -> Tensor:
        return per_sample(step_size, grad) * grad.sign()

    def random_start(self, x: Tensor, eps: float, generator: torch.Generator) -> Tensor:
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
        return self.project(x + delta, x, eps)

    def distance(self, delta: Tensor) -> Tensor:
        return delta.abs().amax(1)


@register("norm", "l2")
class L2(Norm):
    """L2: scale δ down to ‖δ‖₂ ≤ ε; steps along the per-example normalised gradient (Madry et al. 2018).

    Budgets ε = 0.253 white-box (AudioPure, Wu et al., ICLR 2023; DualPure, Tan et al., Interspeech 2024)
    and twice that for transfer, as for L∞; PGD step ε/2 as in AudioPure's released white_box_attack.py.
    """

    name, label, p = "l2", "L2", 2
    default_eps, transfer_eps, pgd_step_divisor = 0.253, 0.506, 2

    def ball(self, delta: Tensor, eps: float) -> Tensor:
        scale = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
        return delta * per_sample(scale, delta)

    def step(self, grad: Tensor, step_size: float | Tensor) -> Tensor:
        return per_sample(step_size, grad) * grad / per_sample(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)

    def random_start(self, x: Tensor, eps: float, generator: torch.Generator) -> Tensor:
        # Uniform in the ball: a uniform direction, and a radius ε·u^(1/d) (the draw order is part of the
        # seeded results: direction first, then u).
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        direction = direction / per_sample(direction.flatten(1).norm(dim=1), x)
        u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
        delta = direction * per_sample(eps * u ** (1.0 / x[0].numel()), x)
        return self.project(x + delta, x, eps)

    def distance(self, delta: Tensor) -> Tensor:
        return delta.norm(dim=1)


def norm_names() -> list[str]:
    """Registered norms, largest exponent first (linf, l2, ...)."""
    plugins = REGISTRY.plugins("norm")
    return [p.name for p in sorted(plugins, key=lambda p: (-float(getattr(p.factory, "p", 0)), p.name))]


def get_norm(norm: str | Norm, owner: str = "attack") -> Norm:
    """The norm object registered as ``norm`` (a ``Norm`` passes through); an unknown name is one line that
    lists the valid ones, prefixed by ``owner`` (e.g. "attack 'pgd'")."""
    if isinstance(norm, Norm):
        return norm
    try:
        return REGISTRY.get("norm", norm).factory()
    except UnknownPlugin:
        valid = ", ".join(repr(n) for n in norm_names())
        raise BadParameter(f"{owner}: norm={norm!r} is not valid; expected one of {valid}") from None


class NormDefaults(Mapping[str, float]):
    """A per-norm value read from the norm objects (``default_eps``, ``transfer_eps``), as a mapping from
    norm name; ``Attack.default_eps`` is one, so a new norm brings its own default budget."""

    def __init__(self, attribute: str):
        self.attribute = attribute

    def __getitem__(self, name: str) -> float:
        if not isinstance(name, str) or name not in REGISTRY.names("norm"):
            raise KeyError(name)
        return float(getattr(get_norm(name), self.attribute))

    def __iter__(self) -> Iterator[str]:
        return iter(norm_names())

    def __len__(self) -> int:
        return len(REGISTRY.names("norm"))

    def __repr__(self) -> str:
        return f"NormDefaults({self.attribute!r}: {dict(self)})"
