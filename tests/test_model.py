"""The defended model's stages (purify, classify), what the query counter counts, and the victim's frontend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from bench.errors import CheckpointError
from bench.frontend import Wave2Mel, frontend_spec
from bench.model import DefendedModel
from bench.queries import QueryCounter
from bench.registry import REGISTRY
from bench.victim_loader import build_classifier, load_victim, victim_frontend
from bench.weights import shipped_weights
from defenses.none import NoDefense


@pytest.fixture(scope="module")
def victim():
    return load_victim("resnext29")


@pytest.mark.parametrize("defense", ["diffnoise", "dualpure", "none"])
def test_forward_is_classify_of_purify_bit_for_bit(victim, defense: str):
    model = DefendedModel(victim.classifier, REGISTRY.create("defense", defense)[0], victim.frontend)
    wave = (0.1 * torch.randn(3, 1, 16000, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    whole = model(wave, generator=torch.Generator().manual_seed(7))
    purified = model.purify(wave, torch.Generator().manual_seed(7))
    assert purified.shape == (3, 1, 32, 32)
    assert torch.equal(whole, model.classify(purified))


def test_query_counter_counts_purifications_as_queries_and_classifications_apart(victim):
    model = QueryCounter(DefendedModel(victim.classifier, NoDefense(), victim.frontend))
    wave = torch.zeros(4, 1, 16000)
    model(wave)
    mel = model.purify(wave[:3])
    assert (model.queries, model.classifications) == (7, 0)
    for _ in range(2):  # gradient grafting: one purification, several classifications
        model.classify(mel)
    assert (model.queries, model.classifications) == (7, 6)
    assert torch.equal(model.classify(mel), model.model(wave[:3]))


def test_the_victim_owns_its_frontend_and_its_card_names_it(victim):
    assert isinstance(victim.frontend, Wave2Mel)
    assert victim.card["frontend"] == frontend_spec(victim.frontend) == Wave2Mel().spec()
    # a defended model given only the classifier takes the frontend the victim registered
    assert isinstance(DefendedModel(victim.classifier, NoDefense()).frontend, Wave2Mel)


class HalfMel(nn.Module):
    """A stand-in frontend: Wave2Mel at half the level (a different feature, for the test)."""

    def __init__(self):
        super().__init__()
        self.mel = Wave2Mel()

    def forward(self, wave: Tensor) -> Tensor:
        return 0.5 * self.mel(wave)

    def spec(self) -> dict:
        return {"name": "half-mel"}


def test_a_victim_registered_with_another_frontend_gets_it_everywhere(tmp_path: Path, temporary_plugin):
    resnext = REGISTRY.get("victim", "resnext29").factory

    def halfnext(config: str = "slim", num_classes: int = 10) -> nn.Module:
        """ResNeXt-29 on half-level mels (test only)."""
        return resnext(config=config, num_classes=num_classes)

    halfnext.frontend = HalfMel  # a factory attribute: registration metadata without keywords
    temporary_plugin("victim", "halfnext", halfnext)
    assert isinstance(victim_frontend("halfnext"), HalfMel)
    classifier, _ = build_classifier("halfnext", {})
    assert isinstance(DefendedModel(classifier, NoDefense()).frontend, HalfMel)
    # the shipped resnext29 weights: a card without a frontend field means Wave2Mel, which does not fit
    weights = tmp_path / "halfnext-slim.safetensors"
    shutil.copy(shipped_weights("victim", "resnext29", "slim"), weights)
    card = json.loads(shipped_weights("victim", "resnext29", "slim").with_suffix(".json").read_text())
    del card["frontend"]
    weights.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="trained on frontend .*'wave2mel'.* uses \\{'name': 'half-mel'\\}"):
        load_victim("halfnext", {"weights": str(weights)})
    weights.with_suffix(".json").write_text(json.dumps({**card, "frontend": {"name": "half-mel"}}))
    assert isinstance(load_victim("halfnext", {"weights": str(weights)}).frontend, HalfMel)
    weights.with_suffix(".json").unlink()  # no card at all: nothing to check
    assert isinstance(load_victim("halfnext", {"weights": str(weights)}).frontend, HalfMel)
