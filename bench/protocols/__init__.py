"""Evaluation protocols: how the stored predictions of a cell's adversarial examples are scored.

A cell classifies each final adversarial example (and each scored iterate) ``draws`` times with fresh
randomness and stores those predictions (a deterministic defense: once, standing for any number of draws).
A protocol is a small registered class that turns them into per-clip robustness; the report scores any
protocol, with any parameter, from the records, and protocol parameters are not part of a cell's id.
A new protocol is one file in this package: a ``Protocol`` subclass registered with
``@register("protocol", "<kind>")``. The shipped ones (Gao et al., "Rethinking the evaluation of
randomized defenses" / DiffHammer, Wang et al., arXiv 2024, name avg and worst):

- ``final@1`` (the default headline): the first draw is correct;
- ``vote@M``: the true class gets strictly more of the first M draws than any other class (a tie loses);
- ``avg@N``: the fraction of the first N draws that are correct;
- ``worst@N``: all of the first N draws are correct;
- ``any_iter``: the released AudioPure/DualPure code's metric (github.com/cychomatica/AudioPure), for parity
  with the papers' numbers only: broken when one fresh-draw prediction at any iterate, iteration 0 (the clean
  input) included, is wrong.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from bench.errors import BadParameter, BenchError
from bench.params import signature_params
from bench.registry import REGISTRY

HEADLINE = "final@1"  # the protocol of a record's ``robust_acc`` and of the tables' headline
ANY_ITER = "any_iter"
ANY_ITER_NOTE = ("released code's metric: wrong at any iterate incl. iteration 0, one fresh draw each; "
                 "for parity with the papers only")


class ProtocolUnavailable(BadParameter):
    """The record does not hold what the protocol needs (too few draws, or an old record without draws)."""


@dataclass(frozen=True)
class Draws:
    """What a record stores of one set of adversarial examples, as tensors."""

    predictions: Tensor  # (D, n) predicted labels, one row per fresh draw
    labels: Tensor  # (n,)
    repeatable: bool  # a deterministic defense: its one stored draw stands for any number of draws
    first_wrong: Tensor  # (n,) first iterate (0 = clean) whose one-draw prediction was wrong; -1: never
    step: int | None = None  # the iterate these examples are (any_iter looks at iterates 0..step); None: all

    def first(self, k: int, protocol: str) -> Tensor:
        """The first ``k`` draws (k, n); raises ``ProtocolUnavailable`` when fewer were stored."""
        if self.repeatable:
            return self.predictions[:1].expand(k, -1)
        if k > self.predictions.shape[0]:
            raise ProtocolUnavailable(f"{protocol} needs {k} draws, the record holds {self.predictions.shape[0]}; "
                                      f"run the cell with --draws {k}")
        return self.predictions[:k]


class Protocol(ABC):
    """One way to score stored draws; ``name`` is how tables and records call it (``vote@5``)."""

    order: ClassVar[int] = 50  # display order: the headline first, the released code's metric last

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def robust(self, draws: Draws) -> Tensor:
        """Per clip, robustness in [0, 1] (float64)."""

    @classmethod
    def default(cls, draws: int, vote: int) -> Protocol | None:
        """This protocol in the default set of a cell stored with ``draws`` draws (None: not in it)."""
        return None

    def accuracy(self, draws: Draws) -> float:
        """Percent robust over the clips (NaN for none), rounded as records store it."""
        values = self.robust(draws)
        return round(100.0 * values.double().mean().item(), 4) if len(values) else float("nan")


class CountedProtocol(Protocol):
    """A protocol over the first ``n`` draws, named ``kind@n``."""

    kind: ClassVar[str]

    def __init__(self, n: int = 10):
        if n < 1:
            raise BadParameter(f"protocol {self.kind}@{n}: the count must be at least 1")
        self.n = n

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.n}"


def parse_protocol(text: str) -> Protocol:
    """``final@1``, ``vote@5``, ``avg@10``, ``worst@10``, ``any_iter``, or any registered ``kind[@count]``."""
    text = text.strip()
    kind, at, count = text.partition("@")
    factory = REGISTRY.get("protocol", kind).factory
    if signature_params(factory):  # a protocol with a count: kind@COUNT
        if not (at and count.isdigit()):
            raise BadParameter(f"protocol {text!r}: write {kind}@COUNT, e.g. {kind}@10")
        protocol = factory(int(count))
    else:
        protocol = factory()
    if protocol.name != text:
        raise BadParameter(f"protocol {text!r} is not valid; did you mean {protocol.name!r}?")
    return protocol


def default_protocols(draws: int, vote: int | None = None) -> list[Protocol]:
    """Every registered protocol's default instance for ``draws`` stored draws, in display order."""
    chosen = [p.factory.default(draws, draws if vote is None else vote) for p in REGISTRY.plugins("protocol")]
    return sorted((p for p in chosen if p is not None), key=lambda p: (p.order, p.name))


def protocol_order(name: str) -> tuple[int, str]:
    """Display order of a protocol name: its class's ``order``, then the name (unknown kinds last)."""
    try:
        return (REGISTRY.get("protocol", name.partition("@")[0]).factory.order, name)
    except BenchError:
        return (99, name)


def hits(predictions: Tensor, labels: Tensor) -> Tensor:
    return predictions == labels.unsqueeze(0)


def as_float(flags: Tensor) -> Tensor:
    return flags.to(torch.float64)
