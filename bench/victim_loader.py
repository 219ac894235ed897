"""Loading a victim classifier: registry factory + weights (shipped or given) + card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import CheckpointError
from bench.params import jsonable, resolve
from bench.registry import REGISTRY
from bench.weights import file_sha256, load_weights, read_card, shipped_weights


@dataclass
class Victim:
    name: str
    params: dict[str, Any]  # the factory's resolved parameters
    classifier: nn.Module
    weights: Path
    weights_sha256: str
    card: dict[str, Any]

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "params": {**jsonable(self.params), "weights_sha256": self.weights_sha256}}


def build_classifier(name: str, overrides: Mapping[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    plugin = REGISTRY.get("victim", name)
    params = resolve(f"victim {name!r}", plugin.factory, overrides)
    return plugin.factory(**params), params


def load_victim(name: str, overrides: Mapping[str, Any] | None = None, device: torch.device | str = "cpu") -> Victim:
    """Build victim ``name`` and load its weights: ``weights=PATH`` in ``overrides``, else the shipped file."""
    overrides = dict(overrides or {})
    weights = overrides.pop("weights", None)
    classifier, params = build_classifier(name, overrides)
    config = str(params.get("config", "default"))
    path = Path(weights).expanduser() if weights else shipped_weights("victim", name, config)
    if path is None:
        raise CheckpointError(
            f"victim {name!r} ({config}) has no shipped weights; train them with "
            f"`bench train victim --arch {name} --config {config}` and pass -o victim.weights=PATH"
        )
    load_weights(classifier, path)
    classifier.eval().requires_grad_(False).to(device)
    return Victim(name, params, classifier, path, file_sha256(path), read_card(path))
