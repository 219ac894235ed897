"""Training the ε-networks (resumable, carded) and importing published checkpoints (tensors, pickled modules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from bench.cli import app
from defenses.diffusion.denoisers import load_denoiser
from defenses.diffusion.diffwave import diffwave
from defenses.diffusion.mel_unet import mel_unet
from tests.conftest import TINY_OPTIONS

runner = CliRunner()


def train(out: Path, name: str, steps: int, *extra: str):
    return runner.invoke(app, ["train", name, "--steps", str(steps), "--save-every", "2", "--batch-size", "4",
                               "--crop", "2000", "--out", str(out), "--no-progress", *TINY_OPTIONS, *extra])


@pytest.mark.parametrize("name", ["meldiff", "diffwave"])
def test_training_resumes_to_the_same_weights_and_writes_a_card(tmp_path: Path, tiny_synth, name: str):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, name, 4).exit_code == 0
    first = train(resumed, name, 2)
    assert first.exit_code == 0, first.output
    second = train(resumed, name, 4)
    assert second.exit_code == 0 and "resumed" in second.output and "at step 2" in second.output
    a, b = (load_file(str(d / f"{name}-slim.safetensors")) for d in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = json.loads((resumed / f"{name}-slim.json").read_text())
    assert card["kind"] == "denoiser" and card["training"]["steps"] == 4
    assert card["dataset"]["train_hash"] == tiny_synth.load("train").content_hash()
    assert card["command"].startswith(f"bench train {name} --config slim") and "-o data.voices=2" in card["command"]
    assert set(card["valid_x0_error_over_noise"]) == {"1", "2", "3", "10"}
    net = load_denoiser(name, "slim", resumed / f"{name}-slim.safetensors")
    assert net.sha256 == card["sha256"] and not net.net.training


def test_published_diffwave_checkpoint_converts(tmp_path: Path):
    """philsyn's layout: {"model_state_dict": ..., "optimizer_state_dict": ...} saved with torch.save."""
    source = diffwave("slim")
    with torch.no_grad():
        for p in source.parameters():
            p.normal_(generator=torch.Generator().manual_seed(p.numel()))
    optimizer = torch.optim.Adam(source.parameters())
    path = tmp_path / "1000000.pkl"
    torch.save({"model_state_dict": source.state_dict(), "optimizer_state_dict": optimizer.state_dict()}, path)
    out = runner.invoke(app, ["convert", "denoiser", "diffwave", str(path), "--config", "slim", "--out",
                              str(tmp_path / "w")])
    assert out.exit_code == 0, out.output
    loaded = load_denoiser("diffwave", "slim", tmp_path / "w" / "diffwave-slim.safetensors")
    x, k = torch.randn(1, 1, 500), torch.tensor([3])
    assert torch.equal(loaded.net(x, k), source.eval()(x, k))
    assert loaded.card["converted_from"]["path"] == str(path)


def test_published_unet_state_dict_converts_and_misfits_are_one_line(tmp_path: Path):
    source = mel_unet("slim")
    path = tmp_path / "diffspec.pt"
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, path)  # DataParallel-wrapped
    ok = runner.invoke(app, ["convert", "denoiser", "meldiff", str(path), "--config", "slim", "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["convert", "denoiser", "meldiff", str(path), "--config", "paper", "--out",
                              str(tmp_path)])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "does not fit" in bad.output


def test_pickled_classifier_converts_only_with_trust_pickle(tmp_path: Path, monkeypatch):
    """The released classifiers are whole pickled modules saved from the code's ``models`` package, possibly
    inside DataParallel; their source is not needed to convert them (unknown classes become stubs)."""
    import sys
    import types

    from victims.resnet import ResNet18

    package = types.ModuleType("models")
    released = types.ModuleType("models.resnet")
    released.ResNet = type("ResNet", (ResNet18,), {"__module__": "models.resnet"})
    package.resnet = released
    monkeypatch.setitem(sys.modules, "models", package)
    monkeypatch.setitem(sys.modules, "models.resnet", released)
    model = released.ResNet(width=16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(generator=torch.Generator().manual_seed(p.numel()))
    path = tmp_path / "audio-vanilla-best-acc.pth"
    torch.save(torch.nn.DataParallel(model), path)
    monkeypatch.delitem(sys.modules, "models.resnet")  # the converting machine lacks the released code
    monkeypatch.delitem(sys.modules, "models")

    refused = runner.invoke(app, ["convert", "victim", "resnet18", str(path), "--config", "slim", "--out",
                                  str(tmp_path)])
    assert refused.exit_code == 2 and "--trust-pickle" in refused.output
    assert not (tmp_path / "resnet18-slim.safetensors").exists()
    ok = runner.invoke(app, ["convert", "victim", "resnet18", str(path), "--config", "slim", "--out",
                             str(tmp_path), "--trust-pickle"])
    assert ok.exit_code == 0, ok.output
    assert "runs code" in ok.output
    from bench.victim_loader import load_victim

    victim = load_victim("resnet18", {"weights": str(tmp_path / "resnet18-slim.safetensors")})
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(victim.classifier(x), model.eval()(x))


def test_noise_augmented_mel_training_sees_noisy_recordings_and_cards_it(tmp_path: Path, tiny_synth):
    """--noise-max augments the waveforms before the mel transform: the batches differ from the clean mels (a
    raised noise floor), the run is still reproducible, and the card and command record the augmentation."""
    from bench.frontend import Wave2Mel
    from bench.train.denoiser import DenoiserTraining, _batch, _examples, _to_mel

    waves, frontend = tiny_synth.load("train").waves, Wave2Mel()
    cfg = DenoiserTraining(name="meldiff", batch_size=len(waves), noise_max=0.25)
    examples = _examples(cfg, waves, frontend)
    assert examples.shape == waves.shape  # augmented per batch, transformed after
    g = torch.Generator().manual_seed(0)
    batch = _batch(cfg, examples, g, frontend)
    assert batch.shape[1:] == (1, 32, 32) and torch.isfinite(batch).all()
    clean = _to_mel(waves, frontend)
    assert batch.quantile(0.05) > clean.quantile(0.05)  # quiet mel bins sit above the clean floor
    out = [train(tmp_path / d, "meldiff", 2, "--noise-max", "0.25") for d in ("a", "b")]
    assert all(o.exit_code == 0 for o in out), out[0].output
    cards = [json.loads((tmp_path / d / "meldiff-slim.json").read_text()) for d in ("a", "b")]
    assert cards[0]["sha256"] == cards[1]["sha256"]
    assert cards[0]["training"]["augment"]["noise_std"] == [0.001, 0.25] and "--noise-max 0.25" in cards[0]["command"]


class TinyEps(torch.nn.Module):
    """A two-parameter ε-network: enough to take an optimiser step."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_a_new_denoiser_is_one_registration_and_bench_train_trains_it(tmp_path: Path, tiny_synth, temporary_plugin):
    from defenses.diffusion.denoisers import TrainingDefaults

    def tinyeps(config: str = "slim") -> torch.nn.Module:
        """A tiny wave-domain ε-network (test only)."""
        return TinyEps()

    tinyeps.domain = "wave"  # metadata as factory attributes, as an entry point's module:factory would carry it
    tinyeps.training_defaults = TrainingDefaults(steps=2, batch_size=2, lr=1e-3, crop=256)
    temporary_plugin("denoiser", "tinyeps", tinyeps)
    listed = runner.invoke(app, ["train", "--help"], terminal_width=200)
    assert listed.exit_code == 0 and "tinyeps" in listed.output and "diffwave" in listed.output
    out = runner.invoke(app, ["train", "tinyeps", "--out", str(tmp_path), "--save-every", "1", "--no-progress",
                              *TINY_OPTIONS])
    assert out.exit_code == 0, out.output
    card = json.loads((tmp_path / "tinyeps-slim.json").read_text())
    assert card["domain"] == "wave" and card["n_params"] == 4
    assert (card["training"]["steps"], card["training"]["batch_size"], card["training"]["crop"]) == (2, 2, 256)
    assert card["command"].startswith("bench train tinyeps --config slim --data synth-digits --steps 2 --batch-size 2 "
                                      "--lr 0.001 --ema 0.999 --crop 256 --seed 0")
    assert load_denoiser("tinyeps", "slim", tmp_path / "tinyeps-slim.safetensors").sha256 == card["sha256"]


def test_registered_training_defaults_are_the_cli_defaults():
    from bench.cli.train import denoiser_command
    from defenses.diffusion.denoisers import denoiser_domain, training_defaults

    assert (denoiser_domain("diffwave"), denoiser_domain("meldiff")) == ("wave", "mel")
    for name in ("diffwave", "meldiff"):
        d = training_defaults(name)
        flags = {p.name: p.default for p in denoiser_command(name).params}
        assert {k: flags[k] for k in ("steps", "batch_size", "lr", "ema", "crop", "noise_max")} == \
            {"steps": d.steps, "batch_size": d.batch_size, "lr": d.lr, "ema": d.ema, "crop": d.crop, "noise_max": 0.0}
    assert (training_defaults("diffwave").steps, training_defaults("meldiff").batch_size) == (20000, 64)
