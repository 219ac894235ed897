"""The contract every registered attack keeps: budget and range, reproducibility, recorded parameters.

Also home of the small models the other attack tests share (import the non-test names from here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from attacks.base import Attack, check_budget
from bench.errors import BadParameter
from bench.model import DefendedModel
from bench.params import resolve, signature_params
from bench.registry import IN_TREE_SOURCE, REGISTRY
from bench.row_draws import randn
from bench.weights import save_weights
from defenses.base import Defense

T = 2048  # samples per toy clip: enough for a few mel frames, fast everywhere
CLASSES = [f"c{i}" for i in range(10)]
MODES = {"exact", "eot", "nes", "transfer", "query", "grafted", "suite"}


def toy_waves(b: int = 6, seed: int = 0, t: int = T) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(b, 1, t, generator=g) * 2 - 1) * 0.5
    x[0, 0, :8] = 1.0  # at the range edge: the range clamp must hold there too
    return x


def tiny_mel_net(config: str = "slim", num_classes: int = 10) -> nn.Module:
    """A few hundred parameters on dB mels of any size."""
    torch.manual_seed(0 if config == "slim" else 1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, num_classes))


class WaveNoise(Defense):
    """Gaussian noise on the waveform: a stochastic, differentiable toy defense."""

    stochastic = True
    per_clip_draws = True

    def __init__(self, sigma: float = 0.01):
        super().__init__()
        self.sigma = sigma

    def purify_wave(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = randn(wave.shape, generator, wave.dtype, wave.device)
        return (wave + self.sigma * noise).clamp(-1, 1)


def toy_model(sigma: float = 0.01) -> DefendedModel:
    return DefendedModel(tiny_mel_net("slim"), WaveNoise(sigma))


def labels_of(model: Callable[..., torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x, generator=torch.Generator().manual_seed(123)).argmax(1)


@pytest.fixture
def tiny_surrogate(tmp_path: Path, temporary_plugin) -> dict[str, Any]:
    """A registered victim ``tiny-mel`` with saved weights: the transfer attacks' surrogate."""
    temporary_plugin("victim", "tiny-mel", tiny_mel_net)
    path = save_weights(tiny_mel_net("paper"), tmp_path / "tiny-mel.safetensors", {"classes": CLASSES})
    return {"surrogate": "tiny-mel", "surrogate_weights": path}


# Small settings per attack, so the contract runs in seconds; every in-tree attack must have an entry.
QUICK: dict[str, dict[str, Any]] = {
    "pgd": {"steps": 2, "eot": 2, "restarts": 2, "restart_draws": 2},
    "apgd": {"steps": 3, "eot": 2, "loss": "dlr"},
    "bandlimited": {"steps": 2, "eot": 2, "restarts": 2, "restart_draws": 2, "low_hz": 50.0, "high_hz": 2000.0},
    "fakebob": {"steps": 2, "samples": 4, "nes_batch": 4},
    "mifgsm": {"steps": 3},
    "tsmifgsm": {"steps": 2, "copies": 3, "max_shift": 50},
    "art": {"steps": 2, "eot": 2},
    "diffhammer": {"steps": 2, "restarts": 2, "evaluations": 3},
    "adaptive": {"evaluations": 3, "members": "pgd:steps=2+diffhammer:steps=2:restarts=1:evaluations=3"},
}
NEEDS_SURROGATE = {"mifgsm", "tsmifgsm"}


def build(name: str, surrogate: dict[str, Any], **extra: Any) -> tuple[Attack, dict[str, Any]]:
    overrides = {**QUICK[name], **(surrogate if name in NEEDS_SURROGATE else {}), **extra}
    return REGISTRY.create("attack", name, overrides)


def test_every_in_tree_attack_is_covered():
    in_tree = {p.name for p in REGISTRY.plugins("attack") if p.source == IN_TREE_SOURCE}
    assert in_tree == set(QUICK)


@pytest.mark.parametrize("name", sorted(QUICK))
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_attack_contract(name: str, norm: str, tiny_surrogate: dict[str, Any]):
    if norm == "l2" and name == "fakebob":
        with pytest.raises(BadParameter, match="expected one of .linf."):
            build(name, tiny_surrogate, norm="l2")
        return
    attack, _ = build(name, tiny_surrogate, norm=norm)
    model, x = toy_model(), toy_waves()
    y = labels_of(model, x)
    iterates: list[int] = []

    def run(seed: int) -> torch.Tensor:
        return attack.perturb(model, x, y, torch.Generator().manual_seed(seed),
                              on_step=lambda s, xi: iterates.append(xi.shape[0]))

    x_adv = run(0)
    # Budget and range: every example, including those at the range edge.
    report = check_budget(x_adv, x, attack.eps, attack.norm)
    assert report.ok, report
    assert x_adv.shape == x.shape and not torch.equal(x_adv, x)
    assert iterates and set(iterates) == {x.shape[0]}  # iterates are reported, whole batches
    # Reproducible under a seed.
    assert torch.equal(run(0), x_adv)
    # Records every parameter, as JSON, and the record rebuilds the same attack.
    params = attack.params()
    factory = REGISTRY.get("attack", name).factory
    # ``gradient`` is recorded only when eot/eot_batch do not say it all, ``fixed_randomness`` and ``eps_db``
    # only when set (so older cells keep their ids)
    optional = {"gradient", "fixed_randomness", "eps_db"}
    assert set(params) == set(signature_params(factory)) - (optional - set(params))
    json.dumps(params, allow_nan=False)
    rebuilt = {k: v for k, v in params.items() if k != "surrogate_weights"}
    if name in NEEDS_SURROGATE:
        assert params["surrogate_weights"].startswith("sha256:")
        rebuilt["surrogate_weights"] = tiny_surrogate["surrogate_weights"]
    again = factory(**resolve(f"attack {name!r}", factory, rebuilt))
    assert again.params() == params
    assert attack.gradient_mode in MODES and attack.label() and attack.expected_steps >= 1
