"""The band-limited PGD (``bandlimited``) and its band-pass filter: band, energy, validation, reduction to PGD."""

from __future__ import annotations

import math

import pytest
import torch

from attacks.bands import BandLimitedNorm, band_pass, check_band
from attacks.base import check_budget
from attacks.norms import get_norm
from bench.errors import BadParameter
from bench.frontend import SAMPLE_RATE
from bench.registry import REGISTRY
from tests.test_attacks_contract import labels_of, toy_model, toy_waves

NYQUIST = SAMPLE_RATE / 2


def tone(hz: float, samples: int = SAMPLE_RATE) -> torch.Tensor:
    return torch.sin(2 * math.pi * hz * torch.arange(samples, dtype=torch.float64) / SAMPLE_RATE)


def energy_share(delta: torch.Tensor, low_hz: float, high_hz: float) -> torch.Tensor:
    """Per example, the fraction of δ's energy in [low_hz, high_hz] (the filter is an orthogonal projection)."""
    delta = delta.double()
    return band_pass(delta, low_hz, high_hz).flatten(1).pow(2).sum(1) / delta.flatten(1).pow(2).sum(1)


def test_band_pass_keeps_the_band_and_removes_the_rest_batched():
    low, mid, high = tone(200), tone(3000), tone(7000)
    x = torch.stack([low + mid, mid + high, low + high]).unsqueeze(1)  # (3, 1, T)
    out = band_pass(x, 1000, 5000)
    assert out.shape == x.shape and out.dtype == torch.float64
    torch.testing.assert_close(out[:, 0], torch.stack([mid, mid, torch.zeros_like(mid)]), atol=1e-9, rtol=0)
    torch.testing.assert_close(band_pass(out, 1000, 5000), out, atol=1e-12, rtol=0)  # a projection
    single = band_pass(x.float(), 0, 1000)
    assert single.dtype == torch.float32
    torch.testing.assert_close(single[:, 0], torch.stack([low, torch.zeros_like(low), low]).float(), atol=1e-4,
                               rtol=0)


def test_a_band_over_the_whole_spectrum_is_the_identity_to_the_bit():
    x = torch.randn(2, 1, 2047)  # odd length: the top bin is below Nyquist
    assert band_pass(x, 0, NYQUIST) is x
    even = torch.randn(2, 1, 2048)
    assert band_pass(even, 0, NYQUIST) is even  # the Nyquist bin of an even length is in [0, Nyquist]
    assert not torch.equal(band_pass(even, 0, NYQUIST - 1), even)


@pytest.mark.parametrize("low, high", [(-1.0, 1000.0), (1000.0, 1000.0), (2000.0, 1000.0), (0.0, NYQUIST + 1)])
def test_invalid_bands_are_one_line(low: float, high: float):
    with pytest.raises(BadParameter) as info:
        REGISTRY.create("attack", "bandlimited", {"low_hz": low, "high_hz": high})
    assert "\n" not in str(info.value) and str(info.value).startswith("bandlimited: needs 0 <= low_hz < high_hz")
    with pytest.raises(BadParameter):
        check_band("x", low, high)


def test_pgd_errors_name_the_attack():
    with pytest.raises(BadParameter, match=r"^bandlimited: pgd: needs eps > 0, steps >= 0"):
        REGISTRY.create("attack", "bandlimited", {"steps": -1})


def test_defaults_params_and_label():
    attack, _ = REGISTRY.create("attack", "bandlimited")
    params = attack.params()
    assert (attack.norm, attack.eps, attack.steps, attack.eot) == ("linf", 0.002, 10, 1)
    assert attack.step_size == pytest.approx(0.002 / 5)
    assert params == {**REGISTRY.create("attack", "pgd")[0].params(), "low_hz": 0.0, "high_hz": 1000.0}
    assert attack.label() == "PGD-10 L∞ ε=0.002 band 0–1000 Hz"
    assert attack.prefix_consistent and attack.truncated(3).label() == "PGD-3 L∞ ε=0.002 band 0–1000 Hz"
    assert attack.gradient_mode == "exact" and isinstance(attack.geometry, BandLimitedNorm)
    assert attack.geometry.label == "L∞" and attack.budget.geometry.name == "linf"  # judged as plain L∞
    eot, _ = REGISTRY.create("attack", "bandlimited", {"eot": 4, "high_hz": 500.0, "restarts": 2})
    assert eot.label() == "PGD-10 L∞ ε=0.002 EOT-4 R2-loss band 0–500 Hz" and not eot.prefix_consistent


def test_fixed_randomness_passes_through_to_pgd():
    attack, _ = REGISTRY.create("attack", "bandlimited", {"fixed_randomness": True})
    assert attack.params()["fixed_randomness"] is True and attack.gradient_mode == "fixed"
    assert attack.label() == "PGD-10 L∞ ε=0.002 fixed-draw band 0–1000 Hz"
    with pytest.raises(BadParameter, match=r"^bandlimited: pgd: fixed_randomness"):
        REGISTRY.create("attack", "bandlimited", {"fixed_randomness": True, "eot": 2})


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_most_of_the_perturbation_energy_lies_in_the_band(norm: str):
    model, x = toy_model(), toy_waves(b=4, t=SAMPLE_RATE)
    y = labels_of(model, x)
    plain, _ = REGISTRY.create("attack", "pgd", {"norm": norm, "eot": 2})
    banded, _ = REGISTRY.create("attack", "bandlimited", {"norm": norm, "eot": 2})
    margin = 50.0  # Hz: the clamps leak a little just past the edge
    shares = {}
    for attack in (plain, banded):
        x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0))
        assert check_budget(x_adv, x, attack.eps, attack.norm).ok
        shares[attack] = energy_share(x_adv - x, 0, banded.high_hz + margin)
    assert bool((shares[banded] > 0.9).all()), shares[banded]
    assert bool((shares[plain] < 0.5).all()), shares[plain]  # the measure can fail: plain PGD spreads out


def test_a_high_band_keeps_the_low_frequencies_out():
    model, x = toy_model(), toy_waves(b=3, t=SAMPLE_RATE)
    attack, _ = REGISTRY.create("attack", "bandlimited", {"low_hz": 2000.0, "high_hz": 4000.0, "steps": 5})
    x_adv = attack.perturb(model, x, labels_of(model, x), torch.Generator().manual_seed(1))
    assert bool((energy_share(x_adv - x, 1950.0, 4050.0) > 0.9).all())
    assert bool((energy_share(x_adv - x, 0.0, 1000.0) < 0.05).all())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_the_whole_spectrum_band_is_pgd_to_the_bit(norm: str):
    model, x = toy_model(), toy_waves()
    y = labels_of(model, x)
    common = {"norm": norm, "steps": 3, "eot": 2, "restarts": 2, "restart_draws": 2, "random_start": True}
    pgd, _ = REGISTRY.create("attack", "pgd", common)
    full, _ = REGISTRY.create("attack", "bandlimited", {**common, "low_hz": 0.0, "high_hz": NYQUIST})
    seen: list[torch.Tensor] = []
    a = pgd.perturb(model, x, y, torch.Generator().manual_seed(7))
    b = full.perturb(model, x, y, torch.Generator().manual_seed(7), on_step=lambda s, xi: seen.append(xi))
    assert torch.equal(a, b) and len(seen) == 6
    narrow, _ = REGISTRY.create("attack", "bandlimited", {**common, "high_hz": NYQUIST - 100})
    assert not torch.equal(narrow.perturb(model, x, y, torch.Generator().manual_seed(7)), a)


def test_band_limited_norm_reads_as_its_inner_norm():
    inner = get_norm("l2")
    band = BandLimitedNorm(inner, 0, 1000)
    assert (band.name, band.label, band.p, band.default_eps) == ("l2", "L2", 2, inner.default_eps)
    assert band.default_step_size(0.5) == inner.default_step_size(0.5) and band.art_norm == 2
    x = toy_waves(b=2, t=4000)
    start = band.random_start(x, 0.1, torch.Generator().manual_seed(0))
    assert check_budget(start, x, 0.1, "l2").ok and bool((energy_share(start - x, 0, 1100) > 0.9).all())
