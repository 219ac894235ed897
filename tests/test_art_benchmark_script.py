"""scripts/art_benchmark.py: our PGD against ART's on the same model and clips, timed, accuracies compared."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_OPTIONS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "art_benchmark.py"


def _script():
    spec = importlib.util.spec_from_file_location("art_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_the_table_has_both_times_a_ratio_and_agreeing_accuracies(tiny_synth, capsys: pytest.CaptureFixture[str]):
    status = _script().main(["--defense", "none", "--n", "10", "--steps", "2", "--repeats", "1", *TINY_OPTIONS])
    out = capsys.readouterr()
    assert status == 0, out.err
    head, rule, row = [line for line in out.out.splitlines() if line.startswith("|")]
    cells = dict(zip(*([c.strip() for c in line.strip("|").split("|")] for line in (head, row)), strict=True))
    assert cells["defense"] == "none" and cells["clips"] == "10" and cells["steps"] == "2"
    ours, art = (float(cells[k].split()[0]) for k in ("ours s", "ART s"))
    assert ours > 0 and art > 0
    for ratio in (float(cells["ART/ours"]), float(cells["ART/ours (min)"])):
        assert math.isfinite(ratio) and ratio > 0
    robust_ours, robust_art = float(cells["robust ours %"]), float(cells["robust ART %"])
    assert robust_ours < 100  # PGD-2 breaks some clips of the slim victim, so agreement means something
    assert abs(robust_ours - robust_art) <= 2.0 and cells["agree (±2)"] == "yes"
    assert "randomized" not in out.out  # a deterministic defense is classified once, no draw to explain


def test_bad_input_is_one_line_and_exit_status_2(tiny_synth, capsys: pytest.CaptureFixture[str]):
    assert _script().main(["--defense", "nope", "--n", "10", "--repeats", "1", *TINY_OPTIONS]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")
