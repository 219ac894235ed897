"""The worst-case suite: an ensemble of attacks run per clip, cheap first, a broken clip not attacked again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attacks.base import Attack, StepCallback
from attacks.losses import cross_entropy
from attacks.selective import SelectionPolicy, n_draws
from bench.errors import BadParameter, BenchError
from bench.registry import REGISTRY, register
from bench.seeding import derive_seed

# AutoAttack's order for randomized defenses (cheap first), then the attacks made for randomized purifiers.
# DiffHammer with full per-draw gradients: on DualPure (slim models, 20 clips, 1 × 10 iterations) grafted
# gradients left 85 % final@1 / 70 % worst@10 where full ones left 80 / 60 (= PGD-EOT-10), at about the
# same CPU time (the N draws' forward passes dominate); full gradients also work on batch-drawn defenses.
DEFAULT_MEMBERS = "pgd:eot=20+apgd:loss=dlr:eot=20+diffhammer:grafting=false+bandlimited:eot=20"
SHARED = ("norm", "eps")  # set once for the suite; a member may not change its budget


def parse_members(text: str, norm: str, eps: float) -> list[tuple[str, str, Attack]]:
    """``name[:key=value]...`` joined by ``+``; every member gets the suite's norm and ε."""
    members = []
    for item in [m.strip() for m in text.split("+") if m.strip()]:
        name, *pairs = [p.strip() for p in item.split(":")]
        options: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key in SHARED or key in options:
                raise BadParameter(f"adaptive: member {item!r}: write name:key=value:..., each key once, and not "
                                   f"{' or '.join(SHARED)} (the suite's budget applies to every member)")
            options[key] = value
        if name == "adaptive":
            raise BadParameter("adaptive: a suite cannot be its own member")
        try:
            attack, _ = REGISTRY.create("attack", name, {**options, "norm": norm, "eps": str(eps)})
        except BenchError as exc:
            raise BadParameter(f"adaptive: member {item!r}: {exc}") from None
        members.append((item, name, attack))
    if not members:
        raise BadParameter("adaptive: members is empty; e.g. members=pgd:eot=20+diffhammer")
    return members


@register("attack", "adaptive")
class AdaptiveSuite(Attack):
    """The per-clip worst case over an ensemble of attacks, in AutoAttack's manner (Croce & Hein, ICML 2020).

    "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks" §5:
    members run in order, cheap first, each on the clips no earlier member broke. For randomized purifiers
    the members default to PGD-EOT (CE), APGD-EOT (DLR; AutoAttack's ``rand`` version), ``diffhammer``
    (Wang et al., NeurIPS 2024) and ``bandlimited`` (after DiffBreak, Kassis et al., NeurIPS 2025).
    After each member, each clip's candidate is classified with ``evaluations`` = N fresh draws (a stream of
    the suite's own); the kept candidate is the one most of whose draws are wrong (ties: higher mean
    cross-entropy), and a clip wrong under all N draws counts as broken and is not attacked again. Every
    member's per-clip count of wrong draws is stored in the record (``members``; −1: not attacked); the
    cell's own evaluation then classifies the kept example with fresh draws (final@1, worst@N ...).

    ``members``: ``name[:key=value]...`` joined by ``+`` (any registered attack and its options, e.g.
    ``pgd:eot=20:steps=100+diffhammer:steps=20``); each member gets the suite's norm and ε.
    """

    def __init__(self, norm: str = "linf", eps: float | None = None, members: str = DEFAULT_MEMBERS,
                 evaluations: int = 10):
        self.set_budget("adaptive", norm, eps)
        if evaluations < 1:
            raise BadParameter("adaptive: evaluations must be >= 1")
        self.evaluations = evaluations
        self.members = parse_members(members, self.norm, self.eps)
        self._outcomes: list[list[int]] = [[] for _ in self.members]

    def params(self) -> dict[str, Any]:
        return {"norm": self.norm, "eps": self.eps, "members": "+".join(text for text, _, _ in self.members),
                "evaluations": self.evaluations}

    @property
    def gradient_mode(self) -> str:
        return "suite"

    @property
    def draws_per_gradient(self) -> int:
        return max(a.draws_per_gradient for _, _, a in self.members)

    @property
    def passes_per_gradient(self) -> int:
        return max(a.passes_per_gradient for _, _, a in self.members)

    @property
    def evaluation_draws(self) -> int:
        return max([self.evaluations, *(a.evaluation_draws for _, _, a in self.members)])

    @property
    def expected_steps(self) -> int:
        return sum(a.expected_steps for _, _, a in self.members)

    def label(self) -> str:
        names = "→".join(name for _, name, _ in self.members)
        return f"Adaptive[{names}] {self.geometry.label} ε={self.eps:g} N={self.evaluations}"

    def take_outcomes(self) -> dict[str, Any]:
        if not any(self._outcomes):
            return {}
        out = {"labels": [a.label() for _, _, a in self.members],
               "attacks": [{"name": name, "params": a.params()} for _, name, a in self.members],
               "evaluations": self.evaluations, "wrong_draws": self._outcomes}
        self._outcomes = [[] for _ in self.members]
        return out

    def merge_outcomes(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        parts = [p for p in parts if p]
        if not parts:
            return {}
        wrong = [sum((p["wrong_draws"][m] for p in parts), []) for m in range(len(self.members))]
        return {**parts[0], "wrong_draws": wrong}

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        root = generator.initial_seed()
        draws = torch.Generator(device=generator.device).manual_seed(derive_seed(root, "adaptive-evaluations"))
        policy = SelectionPolicy(x)
        todo = torch.arange(len(x), device=x.device)
        offset = 0
        for m, (text, _, member) in enumerate(self.members):
            wrong = torch.full((len(x),), -1, dtype=torch.long)
            if len(todo):
                rows = todo

                def report(step: int, x_iter: Tensor, rows: Tensor = rows, offset: int = offset) -> None:
                    if on_step is not None and x_iter.shape[0] == len(rows):
                        on_step(offset + step, policy.with_rows(rows, x_iter))

                member_gen = torch.Generator(device=generator.device).manual_seed(derive_seed(root, "member", m, text))
                x_m = member.perturb(model, x[rows], y[rows], member_gen, on_step=report).detach()
                stats = n_draws(model, x_m, y[rows], draws, self.evaluations, cross_entropy)
                policy.update(rows, x_m, stats)
                wrong[rows.cpu()] = stats.wrong.sum(0).cpu()
                todo = policy.unbroken(self.evaluations)
            offset += member.expected_steps
            self._outcomes[m].extend(wrong.tolist())
        return policy.best
