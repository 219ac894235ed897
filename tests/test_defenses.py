"""Every registered defense against the defense contract, and the recipes against their equations."""

from __future__ import annotations

import pytest
import torch

from bench.frontend import Wave2Mel
from bench.model import DefendedModel
from bench.registry import REGISTRY
from defenses.diffusion.mel import standardize, unstandardize
from defenses.diffusion.schedule import NoiseSchedule
from defenses.diffusion.steps import _index

DEFENSES = REGISTRY.names("defense")


class TinyClassifier(torch.nn.Module):
    """A fixed random mel → logits map, enough to carry gradients back to the waveform."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(32 * 32, 10)
        torch.nn.init.normal_(self.linear.weight, std=0.05, generator=torch.Generator().manual_seed(0))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.linear(mel.flatten(1) / 50.0)


@pytest.fixture(scope="module")
def clips(tiny_synth) -> torch.Tensor:
    return tiny_synth.load("test").waves[:3]


@pytest.fixture(scope="module")
def built() -> dict:
    return {name: REGISTRY.create("defense", name)[0] for name in DEFENSES}


def test_the_paper_defenses_are_registered():
    assert {"none", "ddpm", "diffnoise", "diffrev", "oneshot", "audiopure", "dualpure", "mean-filter",
            "median-filter", "resample", "lowpass", "bandpass"} <= set(DEFENSES)


@pytest.mark.parametrize("name", DEFENSES)
def test_defense_contract(name: str, built: dict, clips: torch.Tensor):
    defense = built[name]
    wave = defense.purify_wave(clips, torch.Generator().manual_seed(1))
    assert wave.shape == clips.shape and wave.dtype == clips.dtype and torch.isfinite(wave).all()
    assert wave.abs().max() <= 1.0
    mel = Wave2Mel()(clips)
    purified = defense.purify_mel(mel, torch.Generator().manual_seed(1))
    assert purified.shape == mel.shape and purified.dtype == mel.dtype and torch.isfinite(purified).all()

    model = DefendedModel(TinyClassifier(), defense)
    x = clips.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x, generator=torch.Generator().manual_seed(2)).logsumexp(1).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0

    same = [model(clips, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(same[0], same[1])
    other = model(clips, generator=torch.Generator().manual_seed(4))
    assert torch.equal(same[0], other) != defense.stochastic


def test_dualpure_is_the_released_seven_steps(built: dict, clips: torch.Tensor):
    """DualPure's forward (Tan et al., Interspeech 2024, Eq. 3–4; github.com/Sec4ai/DualPure), by hand."""
    dualpure = built["dualpure"]
    schedule = NoiseSchedule.linear()
    z = torch.randn(clips.shape, generator=torch.Generator().manual_seed(5))
    x = (schedule.alphas_cumprod[1].sqrt() * clips + (1 - schedule.alphas_cumprod[1]).sqrt() * z).float()
    m = 2 * (Wave2Mel()(x) + 100) / 138.22 - 1
    eps = dualpure.net(m, _index(m, 1))
    x0 = ((m - 0.01 * eps) / 0.9999 ** 0.5).clamp(-1, 1)
    expected = (x0 + 1) * 69.11 - 100
    wave = dualpure.purify_wave(clips, torch.Generator().manual_seed(5))
    got = dualpure.purify_mel(Wave2Mel()(wave))
    assert torch.allclose(got, expected, atol=1e-3)
    assert torch.allclose(unstandardize(standardize(got)), got, atol=1e-4)


def test_diffnoise_adds_exactly_the_scheduled_noise(built: dict, clips: torch.Tensor):
    diffnoise = built["diffnoise"]
    out = diffnoise.purify_wave(clips, torch.Generator().manual_seed(6))
    z = torch.randn(clips.shape, generator=torch.Generator().manual_seed(6))
    ab = float(NoiseSchedule.linear().alphas_cumprod[1])
    assert torch.allclose(out, (ab ** 0.5 * clips + (1 - ab) ** 0.5 * z).clamp(-1, 1), atol=1e-6)


def test_bad_steps_are_one_line_errors():
    from bench.errors import BadParameter

    with pytest.raises(BadParameter, match="t=0 is outside 1..200"):
        REGISTRY.create("defense", "ddpm", {"t": "0"})
    with pytest.raises(BadParameter, match="t_s=201 is outside"):
        REGISTRY.create("defense", "dualpure", {"t_s": "201"})


def test_audiopure_gradient_mode_is_declared(built: dict):
    assert built["audiopure"].gradient_mode == "exact"
    adjoint, params = REGISTRY.create("defense", "audiopure", {"grad": "adjoint"})
    assert adjoint.gradient_mode == "adjoint" and params["grad"] == "adjoint"


def test_diffusion_defenses_record_their_weights(built: dict):
    info = built["dualpure"].weights_info()
    assert info["mel"]["name"] == "meldiff" and len(info["mel"]["sha256"]) == 64
    assert built["ddpm"].weights_info()["wave"]["name"] == "diffwave"
    assert built["diffnoise"].weights_info() == {} and built["none"].weights_info() == {}
