"""Loading a victim: registry factory (classifier + the frontend it registered) + weights (shipped or given) + card.

A victim plugin is one registration, ``@register("victim", name, frontend=Wave2Mel)`` on a factory that
returns the classifier; the frontend (wave → classifier input) defaults to ``DEFAULT_FRONTEND`` when the
registration names none. Everything that needs a victim's features (training, the defended model, transfer
surrogates, ``bench perf``) takes them from here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bench.errors import CheckpointError, DataError
from bench.frontend import DEFAULT_FRONTEND, FRONTEND_ATTR, Frontend, frontend_spec
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
    frontend: nn.Module  # wave → classifier input, as the victim registered it

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "params": {**jsonable(self.params), "weights_sha256": self.weights_sha256}}

    def check_classes(self, classes: Sequence[str], data: str) -> None:
        """One line when the card names other classes (or another order) than dataset ``data``'s."""
        if tuple(self.card.get("classes", classes)) != tuple(classes):
            raise DataError(f"victim {self.name!r} was trained on classes {self.card['classes']}, "
                            f"dataset {data!r} has {list(classes)}")

    def float64(self, device: torch.device) -> Callable[[Tensor], Tensor]:
        """The bare victim (frontend + classifier) in float64, on a copy, as a function of a batch of waves.

        What it classifies correctly picks evaluation subsets, which define cell ids and must be the same on
        every machine: float32 logits differ between CPU types in their last bits, enough to flip a clip whose
        top two nearly tie; float64's differences are ~1e-9 times as large."""
        bare = nn.Sequential(copy.deepcopy(self.frontend), copy.deepcopy(self.classifier))
        bare = bare.to(device, torch.float64).eval()
        return lambda x: bare(x.double())


def frontend_factory(name: str) -> Frontend:
    """The frontend factory victim ``name`` registered with (``DEFAULT_FRONTEND`` when it names none)."""
    return REGISTRY.get("victim", name).meta("frontend", DEFAULT_FRONTEND)


def victim_frontend(name: str) -> nn.Module:
    """A fresh frontend module of victim ``name``."""
    return frontend_factory(name)()


def build_classifier(name: str, overrides: Mapping[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Victim ``name``'s classifier (untrained) and its resolved parameters. The classifier carries its
    frontend factory as ``input_frontend`` (a plain attribute: not a submodule, so not in its state dict),
    which ``DefendedModel`` uses when it is not given a frontend."""
    plugin = REGISTRY.get("victim", name)
    params = resolve(f"victim {name!r}", plugin.factory, overrides)
    classifier = plugin.factory(**params)
    setattr(classifier, FRONTEND_ATTR, frontend_factory(name))
    return classifier, params


def check_card_frontend(name: str, card: Mapping[str, Any], frontend: nn.Module, path: Path) -> None:
    """Weights trained on other features than the victim's frontend are an error. A card without a
    ``frontend`` field predates it; every such card was trained on ``DEFAULT_FRONTEND``."""
    if not card:
        return
    trained_on = card.get("frontend") or frontend_spec(DEFAULT_FRONTEND())
    if trained_on != frontend_spec(frontend):
        raise CheckpointError(f"weights {path} were trained on frontend {trained_on}, but victim {name!r} uses "
                              f"{frontend_spec(frontend)}; retrain them with `bench train victim --arch {name}`")


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
    card = read_card(path)
    frontend = victim_frontend(name)
    check_card_frontend(name, card, frontend, path)
    return Victim(name, params, classifier, path, file_sha256(path), card, frontend.eval().to(device))
