"""``bench perf``: per-clip purification, attack step and memory per defense, batch, config and mode; records
that ``bench report`` reads; ``--cell``: one seed of the main job, its seconds split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.cli.perf import cell_seconds, seconds_split
from bench.peak_memory import peak_memory
from bench.perf import RANDOM, TRAINED, build_defense, build_victim, load_perf, time_calls
from tests.conftest import TINY_OPTIONS

runner = CliRunner()


def test_time_calls_excludes_warm_up():
    calls = []
    times = time_calls(lambda: calls.append(1), repeats=3, warmup=2, device=torch.device("cpu"))
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_perf_prints_writes_records_and_feeds_table4(tmp_path: Path):
    out = runner.invoke(app, ["perf", "--defenses", "none,diffnoise", "--batch", "1,2", "--repeats", "2",
                              "--device", "cpu", "--threads", "1", "--out", str(tmp_path / "perf")])
    assert out.exit_code == 0, out.output
    assert "diffnoise      cpu   slim  eager    batch   2: per clip purify " in out.output
    assert ", attack step " in out.output and "4 perf records in" in out.output
    records = load_perf(tmp_path / "perf")
    assert sorted((r["defense"], r["batch"]) for r in records) == [("diffnoise", 1), ("diffnoise", 2), ("none", 1),
                                                                   ("none", 2)]
    for r in records:
        assert r["device"] == "cpu" and r["repeats"] == 2 and r["warmup"] == 2 and r["environment"]["threads"] == 1
        assert (r["config"], r["mode"], r["weights"], r["schema"]) == ("slim", "eager", TRAINED, 2)
        for key in ("seconds_per_clip", "attack_step_seconds_per_clip"):
            s = r[key]
            assert len(s["runs"]) == 2 and 0 < s["min"] <= s["mean"]
        # the attack step runs the classifier and a backward pass on top of purification
        assert r["attack_step_seconds_per_clip"]["min"] > r["seconds_per_clip"]["min"]
        for stage in ("purify", "attack_step"):
            m = r["memory"][stage]
            assert m["method"].startswith("cpu RSS") and m["per_clip_bytes"] >= 0
    assert json.loads((tmp_path / "perf" / "diffnoise-cpu-b2-slim-eager.perf.json").read_text())["params"] == {"t": 2}
    report = runner.invoke(app, ["report", "--results", str(tmp_path / "none"), "--perf", str(tmp_path / "perf"),
                                 "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    table4 = (tmp_path / "report" / "table4.md").read_text()
    assert "| Defense | cpu batch 1 | cpu batch 2 | paper (RTX 3090) |" in table4 and "| DiffNoise | " in table4
    assert "## Attack step time per clip" in table4 and "## Peak memory per clip" in table4
    assert "| AudioPure / DualPure |  |  | 6.55× |" in table4  # neither measured: only the paper's ratio
    assert "(d) DualPure the fastest diffusion defense (Table 4, batch 1): **not enough records**" in \
        (tmp_path / "report" / "index.md").read_text()


def test_perf_bad_input_gives_one_clear_line(tmp_path: Path):
    for args, message in ((["--defenses", "nope"], "unknown defense 'nope'; valid: "),
                          (["--batch", "0"], "--batch and --repeats must be at least 1"),
                          (["--batch", "x"], "--batch 'x': give whole numbers"),
                          (["--config", "huge"], "--config huge: give one or more of slim,paper"),
                          (["--modes", "jit"], "--modes jit: give one or more of eager,compiled"),
                          (["--n", "5"], "--n, --steps, --cell-defense and -o apply to --cell"),
                          (["--cell", "--steps", "0"], "--steps 0: must be at least 1"),
                          (["--device", "cuda:7", "--defenses", "none"], "--device")):
        out = runner.invoke(app, ["perf", *args, "--out", str(tmp_path)])
        assert out.exit_code == 2 and out.output.startswith("error: ") and message in out.output, out.output
        assert out.output.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_paper_config_stands_in_seeded_random_weights_and_says_so(tmp_path: Path):
    state = torch.random.get_rng_state()
    defense, params, label = build_defense("dualpure", "paper", tmp_path)
    assert label == RANDOM and params["weights"] == RANDOM and params["config"] == "paper"
    assert defense.weights_info()["mel"]["config"] == "paper"
    first, _, victim_label = build_victim("paper")
    again, _, _ = build_victim("paper")
    assert victim_label == RANDOM and sum(p.numel() for p in first.parameters()) > 30e6  # ResNeXt-29 8×64d
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values(),
                                                 strict=True))  # seeded: the same networks on every run
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's default stream is untouched
    assert build_defense("diffnoise", "paper", tmp_path)[2] == "no network"
    assert build_victim("slim")[2] == TRAINED


def test_peak_memory_sees_a_large_allocation_on_cpu():
    result = peak_memory(lambda: torch.ones(64, 2**20).sum(), torch.device("cpu"), clips=2)  # 256 MiB
    assert result["method"].startswith("cpu RSS")
    if "VmHWM" in result["method"]:  # resettable high-water mark: the allocation is seen, per clip
        assert 100 * 2**20 < result["per_clip_bytes"] < 200 * 2**20


def test_seconds_split_adds_other_and_shares():
    rows = seconds_split({"total": 10.0, "scoring": 1.0, "attack": 6.0, "clean": 0.5, "note": "copied"})
    assert [r[0] for r in rows] == ["attack", "scoring", "clean", "other", "total"]
    assert rows[3][1] == pytest.approx(2.5) and rows[0][2] == pytest.approx(60.0) and rows[-1][2] == 100.0


def test_cell_runs_one_seed_and_splits_its_seconds(tiny_synth):
    seconds = cell_seconds("none", n=10, steps=1, device="cpu", options=[("data.voices", "2"),
                                                                        ("data.clips_per_voice", "2")],
                           log=lambda _: None)
    assert seconds["total"] > 0 and "attack" in seconds
    out = runner.invoke(app, ["perf", "--cell", "--n", "10", "--steps", "1", "--device", "cpu", *TINY_OPTIONS])
    assert out.exit_code == 0, out.output
    assert "none × PGD-1, one seed, n=10: where the cell's seconds went" in out.output
    assert "  attack " in out.output and "  other " in out.output and "100.0 %" in out.output
