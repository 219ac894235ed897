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
from bench.victim import load_victim

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_data() -> SynthDigits:
    data = SynthDigits()
    data.prepare(progress=False)
    return data


def test_shipped_victim_is_accurate_on_held_out_voices(default_data: SynthDigits):
    victim = load_victim("resnext29")
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
