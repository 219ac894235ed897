"""Training that respects the user's time: elapsed and ETA in every `bench train` log, and `--max-minutes`
stopping at the best checkpoint so far, recorded on the card. The clock is faked (`bench.train.clock.now`),
so the stops are deterministic and nothing sleeps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from bench.cli import app
from bench.train.clock import duration
from defenses.diffusion.denoisers import load_denoiser
from tests.conftest import TINY_OPTIONS

runner = CliRunner()


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reading of the training clock is one second after the last: any run "takes" seconds."""
    ticks = iter(range(10**9))
    monkeypatch.setattr("bench.train.clock.now", lambda: float(next(ticks)))


def test_durations_read_as_wall_time():
    assert [duration(s) for s in (0, 45.4, 225, 3725, float("inf"))] == ["0s", "45s", "3m45s", "1h02m", "?"]


def test_victim_stops_at_the_limit_with_its_best_epoch_on_the_card(tmp_path: Path, tiny_synth, fake_clock):
    # 40 training clips, batches of 20: 2 batches an epoch; a 2 s limit passes within the first epoch or two
    out = runner.invoke(app, ["train", "victim", "--epochs", "3", "--batch-size", "20", "--max-minutes", "0.03",
                              "--out", str(tmp_path), "--no-progress", *TINY_OPTIONS])
    assert out.exit_code == 0, out.output
    assert re.search(r"epoch 1/3.*: loss \d+\.\d+  valid \d+\.\d+%  \(elapsed \d+s, ETA \d+s\)", out.output), out.output
    assert "stopped early: --max-minutes 0.03 reached" in out.output and "keeping the best epoch so far" in out.output
    assert "epoch 3/3" not in out.output
    card = json.loads((tmp_path / "resnext29-slim.json").read_text())
    t = card["training"]
    assert t["stopped_early"] is True and t["max_minutes"] == 0.03 and "--max-minutes 0.03" in t["stop_reason"]
    assert t["epochs"] == 3 and t["epochs_completed"] < 3 and 1 <= t["best_epoch"] <= t["epochs_completed"] + 1
    assert " --max-minutes 0.03 " in card["command"]
    from bench.victim_loader import load_victim

    victim = load_victim("resnext29", {"weights": str(tmp_path / "resnext29-slim.safetensors")})
    assert victim.weights_sha256 == card["sha256"]


def train(out: Path, name: str, *extra: str):
    return runner.invoke(app, ["train", name, "--steps", "4", "--save-every", "2", "--batch-size", "4", "--crop",
                               "2000", "--out", str(out), "--no-progress", *TINY_OPTIONS, *extra])


def test_denoiser_stops_resumably_at_the_limit_and_resumes_to_the_full_runs_weights(tmp_path: Path, tiny_synth,
                                                                                      monkeypatch, fake_clock):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    full = train(straight, "meldiff")
    assert full.exit_code == 0, full.output
    assert re.search(r"step 4/4: loss \d+\.\d+  \(elapsed \d+s, ETA 0s\)", full.output), full.output
    assert json.loads((straight / "meldiff-slim.json").read_text())["training"]["stopped_early"] is False

    first = train(stopped, "meldiff", "--max-minutes", "0.01")  # 0.6 s: passed at the first step boundary
    assert first.exit_code == 0, first.output
    assert "stopped early: --max-minutes 0.01 reached" in first.output and "at step 1/4" in first.output
    card = json.loads((stopped / "meldiff-slim.json").read_text())
    t = card["training"]
    assert (t["stopped_early"], t["steps"], t["steps_requested"], t["max_minutes"]) == (True, 1, 4, 0.01)
    assert "at step 1/4" in t["stop_reason"] and " --max-minutes 0.01 " in card["command"]
    assert load_denoiser("meldiff", "slim", stopped / "meldiff-slim.safetensors").sha256 == card["sha256"]

    # the checkpoint written at the stop resumes to exactly the weights of a run that never stopped
    second = train(stopped, "meldiff")
    assert second.exit_code == 0 and "resumed" in second.output and "at step 1" in second.output, second.output
    a, b = (load_file(str(d / "meldiff-slim.safetensors")) for d in (straight, stopped))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((stopped / "meldiff-slim.json").read_text())["training"]["stopped_early"] is False


@pytest.mark.parametrize("command", ["victim", "meldiff", "diffwave"])
@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_limit_that_allows_no_training_is_one_error_line(tmp_path: Path, monkeypatch, command: str, value: str):
    monkeypatch.setenv("SCRBENCH_HOME", str(tmp_path / "home"))
    out = runner.invoke(app, ["train", command, "--max-minutes", value, "--out", str(tmp_path)])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert out.output.startswith(f"error: --max-minutes {value}: must be > 0") and "drop it" in out.output
    assert not (tmp_path / "home").exists()  # refused before any data was built
