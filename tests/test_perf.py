"""``bench perf``: seconds per clip per defense and batch size, records that ``bench report`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.perf import load_perf, time_calls

runner = CliRunner()


def test_time_calls_excludes_warm_up():
    calls = []
    times = time_calls(lambda: calls.append(1), repeats=3, warmup=2, device=torch.device("cpu"))
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_perf_prints_writes_records_and_feeds_table4(tmp_path: Path):
    out = runner.invoke(app, ["perf", "--defenses", "none,diffnoise", "--batch", "1,2", "--repeats", "2",
                              "--device", "cpu", "--threads", "1", "--out", str(tmp_path / "perf")])
    assert out.exit_code == 0, out.output
    assert "diffnoise      cpu   batch   2: " in out.output and "4 perf records in" in out.output
    records = load_perf(tmp_path / "perf")
    assert sorted((r["defense"], r["batch"]) for r in records) == [("diffnoise", 1), ("diffnoise", 2), ("none", 1),
                                                                   ("none", 2)]
    for r in records:
        s = r["seconds_per_clip"]
        assert r["device"] == "cpu" and r["repeats"] == 2 and r["warmup"] == 2 and len(s["runs"]) == 2
        assert 0 < s["min"] <= s["mean"] and r["environment"]["threads"] == 1
    assert json.loads((tmp_path / "perf" / "diffnoise-cpu-b2.perf.json").read_text())["params"] == {"t": 2}
    report = runner.invoke(app, ["report", "--results", str(tmp_path / "none"), "--perf", str(tmp_path / "perf"),
                                 "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    table4 = (tmp_path / "report" / "table4.md").read_text()
    assert "| Defense | cpu batch 1 | cpu batch 2 | paper (RTX 3090) |" in table4 and "| DiffNoise | " in table4
    assert "(d) DualPure the fastest diffusion defense (Table 4, batch 1): **not enough records**" in \
        (tmp_path / "report" / "index.md").read_text()


def test_perf_bad_input_gives_one_clear_line(tmp_path: Path):
    for args, message in ((["--defenses", "nope"], "unknown defense 'nope'; valid: "),
                          (["--batch", "0"], "--batch and --repeats must be at least 1"),
                          (["--batch", "x"], "--batch 'x': give whole numbers"),
                          (["--device", "cuda:7", "--defenses", "none"], "--device")):
        out = runner.invoke(app, ["perf", *args, "--out", str(tmp_path)])
        assert out.exit_code == 2 and out.output.startswith("error: ") and message in out.output, out.output
        assert out.output.count("\n") == 1
    assert not list(tmp_path.iterdir())
