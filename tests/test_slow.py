"""End-to-end checks on the full default data (``pytest --slow``): the shipped victim and the main job."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.data.synth_digits import SynthDigits
from bench.evaluate import correct
from bench.frontend import Wave2Mel
from bench.results import iter_records
from bench.registry import REGISTRY
from bench.victim import load_victim

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_data() -> SynthDigits:
    data = SynthDigits()
    data.prepare(progress=False)
    return data


@pytest.mark.parametrize("arch", ["resnext29", "vgg19", "resnet18", "wrn28"])
def test_shipped_victims_are_accurate_on_held_out_voices(default_data: SynthDigits, arch: str):
    victim = load_victim(arch)
    test = default_data.load("test")
    assert victim.card["dataset"]["test_hash"] == test.content_hash()  # trained on this very data
    frontend = Wave2Mel()
    model = lambda x: victim.classifier(frontend(x))
    accuracy = 100 * correct(model, test.waves, test.labels, 140, "cpu").float().mean().item()
    assert accuracy >= 95.0
    assert accuracy == pytest.approx(victim.card["clean_test_acc"], abs=0.01)


def test_main_job_breaks_the_undefended_victim(tmp_path: Path, default_data: SynthDigits):
    """The README's main job: PGD-10 L∞ ε=0.002, 100 clips, 5 seeds (paper's None row: clean 100, robust 1)."""
    out = CliRunner().invoke(app, ["run", "--defense", "none", "--attack", "pgd", "--steps", "10",
                                   "--results", str(tmp_path), "--no-progress"])
    assert out.exit_code == 0, out.output
    records = list(iter_records(tmp_path))
    assert len(records) == 5 and {r["n"] for r in records} == {100}
    assert all(r["clean_acc"] == 100.0 and r["clean_acc_victim"] == 100.0 for r in records)
    assert sum(r["robust_acc"] for r in records) / 5 <= 2.0
    assert all(r["budget"]["max_linf"] <= 0.002 + 1e-6 for r in records)


def _clean_accuracy(defense: str, params: dict, test) -> tuple[float, float]:
    """(bare, defended) clean accuracy of the shipped resnext29 on ``test``, the defense drawing from seed 0."""
    import torch

    from bench.model import DefendedModel

    victim = load_victim("resnext29")
    purifier, _ = REGISTRY.create("defense", defense, params)
    model = DefendedModel(victim.classifier, purifier)
    bare = lambda x: model.classifier(model.frontend(x))  # noqa: E731
    with torch.no_grad():
        bare_acc = correct(bare, test.waves, test.labels, 140, "cpu").float().mean().item()
        defended = correct(model, test.waves, test.labels, 140, "cpu", generator=torch.Generator().manual_seed(0))
    return bare_acc, defended.float().mean().item()


def test_shipped_diffwave_keeps_ddpm_clean_accuracy(default_data: SynthDigits):
    """With the shipped slim DiffWave, clean accuracy through DDPM (t = 2) is at least 90% of the bare victim's."""
    bare, ddpm = _clean_accuracy("ddpm", {"t": 2}, default_data.load("test"))
    assert ddpm >= 0.90 * bare, (ddpm, bare)


def test_shipped_mel_unet_costs_little_clean_accuracy_beyond_dualpures_wave_noise(default_data: SynthDigits):
    """DualPure (t_w = 2) adds exactly DiffNoise's (t = 2) waveform noise under the same generator seed, so the
    paired difference is what the shipped slim mel U-Net step does to clean accuracy. A broken or mis-scaled
    U-Net costs tens of points; one trained on clean mels only costs 1.6 (it has never seen a noise floor);
    the shipped one, trained on noise-augmented clips too, at most 1 point."""
    test = default_data.load("test")
    _, diffnoise = _clean_accuracy("diffnoise", {"t": 2}, test)
    _, dualpure = _clean_accuracy("dualpure", {"t_w": 2}, test)
    assert dualpure >= diffnoise - 0.01, (dualpure, diffnoise)
