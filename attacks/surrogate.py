"""Transfer surrogates: another victim, undefended, whose gradients craft examples for the defended target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from bench.errors import CheckpointError
from bench.model import DefendedModel
from bench.params import signature_params
from bench.registry import REGISTRY
from bench.victim_loader import load_victim
from bench.weights import shipped_weights
from defenses.none import NoDefense


@dataclass
class Surrogate:
    model: nn.Module  # wave → Wave2Mel → classifier, deterministic, frozen
    spec: dict[str, Any]  # name, configuration and weights hash, recorded with the attack's parameters
    classes: tuple[str, ...] | None


def load_surrogate(name: str, config: str, weights: Path | None) -> Surrogate:
    """Victim ``name`` (``config``) with its shipped weights, or ``weights``; a missing file is one line."""
    overrides: dict[str, Any] = {}
    if "config" in signature_params(REGISTRY.get("victim", name).factory):
        overrides["config"] = config
    else:
        config = "default"  # the loader's name for a victim without configurations
    if weights is not None:
        overrides["weights"] = str(weights)
    elif shipped_weights("victim", name, config) is None:
        raise CheckpointError(
            f"surrogate {name!r} ({config}) has no shipped weights; train them with `bench train victim --arch "
            f"{name} --config {config}` and pass -o surrogate_weights=PATH, or pick another --surrogate"
        )
    victim = load_victim(name, overrides)
    classes = victim.card.get("classes")
    return Surrogate(DefendedModel(victim.classifier, NoDefense(), victim.frontend),
                     {"name": name, "config": config, "weights_sha256": victim.weights_sha256},
                     tuple(classes) if classes else None)
