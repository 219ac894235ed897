"""``bench report --perf``: Table 4 from perf records of both schemas, per (device, batch, config, mode), the
AudioPure/DualPure ratio, and finding (d) from the rows measured."""

from __future__ import annotations

import json
from pathlib import Path

from bench.papers import get_paper
from bench.papers.dualpure import fastest_verdict
from bench.perf import DIFFUSION, RANDOM, load_perf, perf_lookup
from bench.report.timing import ratio_cell, timing_table


def old_record(name: str, seconds: float, batch: int = 1) -> dict:
    """A schema-1 record, as ``results/reference/perf`` holds them: purification only, no config or mode."""
    return {"kind": "perf", "schema": 1, "defense": name, "params": {}, "device": "cpu", "batch": batch,
            "repeats": 3, "warmup": 2, "environment": {"device_name": "cpu"}, "created": "2026-01-01T00:00:00+00:00",
            "seconds_per_clip": {"mean": seconds, "std": 0.001, "min": seconds, "runs": [seconds] * 3}}


def new_record(name: str, seconds: float, step: float, config: str = "slim", mode: str = "eager",
               batch: int = 1, weights: str = "trained") -> dict:
    memory = {stage: {"per_clip_bytes": int(mib * 2**20), "method": "cpu RSS: test"}
              for stage, mib in (("purify", 1.5), ("attack_step", 30 * seconds))}
    return {**old_record(name, seconds, batch), "schema": 2, "config": config, "mode": mode, "weights": weights,
            "created": "2026-02-01T00:00:00+00:00", "memory": memory,
            "attack_step_seconds_per_clip": {"mean": step, "std": 0.0, "min": step, "runs": [step]}}


def write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(records):
        (folder / f"{i}.perf.json").write_text(json.dumps(r))
    return folder


def test_old_records_are_read_as_slim_eager_and_newer_ones_replace_them(tmp_path: Path):
    folder = write(tmp_path / "perf", [old_record("dualpure", 0.02), new_record("dualpure", 0.01, 0.05),
                                       new_record("dualpure", 0.3, 0.9, config="paper", weights=RANDOM)])
    records = load_perf(folder)
    assert len(records) == 3 and {(r["config"], r["mode"]) for r in records} == {("slim", "eager"), ("paper", "eager")}
    lookup = perf_lookup(records)
    assert set(lookup) == {("dualpure", "cpu", 1, "slim", "eager"), ("dualpure", "cpu", 1, "paper", "eager")}
    assert lookup[("dualpure", "cpu", 1, "slim", "eager")]["schema"] == 2  # the newer record wins
    only_old = load_perf(write(tmp_path / "old", [old_record(n, 0.1 + i / 100) for i, n in enumerate(DIFFUSION)]))
    md = timing_table(get_paper("dualpure"), "table4", only_old)["table4.md"]
    assert "| Defense | cpu batch 1 | paper (RTX 3090) |" in md and "| AudioPure | 100 ± 1 ms | 174 ms |" in md
    assert "| AudioPure / DualPure | 0.714× | 6.55× |" in md  # 0.10 / 0.14, beside the paper's 0.1742 / 0.0266
    assert "Attack step" not in md  # schema 1 measured purification only


def test_table4_has_a_column_per_setting_and_the_audiopure_dualpure_ratio(tmp_path: Path):
    records = [new_record("audiopure", 0.2, 1.0), new_record("dualpure", 0.01, 0.1),
               new_record("audiopure", 0.1, 0.4, mode="compiled"), new_record("dualpure", 0.02, 0.1, mode="compiled"),
               new_record("audiopure", 2.0, 6.0, config="paper", weights=RANDOM),
               new_record("dualpure", 0.5, 2.0, config="paper", weights=RANDOM)]
    files = timing_table(get_paper("dualpure"), "table4", records)
    md = files["table4.md"]
    assert ("| Defense | cpu batch 1 | cpu batch 1 compiled | cpu batch 1 paper † | paper (RTX 3090) |") in md
    assert "| AudioPure / DualPure | 20× | 5× | 4× | 6.55× |" in md  # purification, each column
    assert "| AudioPure / DualPure | 10× | 4× | 3× |" in md  # the attack step
    assert "| DualPure | 1.5 / 0.3 | 1.5 / 0.6 | 1.5 / 15 |" in md  # MiB per clip: purify / attack step
    assert "† random weights (timing only)" in md and "Measured as cpu RSS: test." in md
    csv = files["table4.csv"].splitlines()
    assert csv[0].startswith("defense,device,batch,mean,std,repeats,device_name,paper,config,mode,weights,")
    assert "audiopure,cpu,1,2.000000,0.001000,3,cpu,0.1742,paper,eager,random weights (timing only)," \
           "6.000000,0.000000,1572864,62914560" in csv
    assert ratio_cell({"audiopure": 1.0, "dualpure": 0.0}) == "" and ratio_cell({"dualpure": 1.0}) == ""


def timed(name: str, runs: list[float], mode: str = "eager") -> dict:
    record = new_record(name, sum(runs) / len(runs), 0.1, mode=mode)
    return {**record, "seconds_per_clip": {"mean": sum(runs) / len(runs), "std": 0.0, "min": min(runs), "runs": runs}}


def test_finding_d_judges_each_setting_from_the_rows_measured():
    """Shown when every DualPure repeat beats every repeat of each other defense, contradicted when another's
    every repeat beats DualPure's, not shown when they overlap; the speed-up over the next fastest with its
    range over the repeats."""
    full = [old_record(n, 0.01 if n == "dualpure" else 0.1) for n in DIFFUSION]
    assert fastest_verdict(full) == ("shown on cpu: next fastest audiopure / DualPure = 10.00× [range over repeats "
                                     "10.00, 10.00] (DualPure 0.0100 s/clip, audiopure 0.1000)")
    overlap = [timed("audiopure", [0.05, 0.07], "compiled"), timed("dualpure", [0.04, 0.06], "compiled")]
    assert fastest_verdict(overlap) == (
        "not shown on cpu compiled: next fastest audiopure / DualPure = 1.20× [range over repeats 0.83, 1.75] "
        "(DualPure 0.0500 s/clip, audiopure 0.0600; among 2 of 5, not measured: ddpm, diffrev, oneshot)")
    slower = [timed("ddpm", [0.05, 0.06]), timed("dualpure", [0.08, 0.09]), timed("oneshot", [0.07, 0.2])]
    assert fastest_verdict(slower).startswith("contradicted on cpu: next fastest ddpm / DualPure = 0.65×")
    assert fastest_verdict([new_record("dualpure", 0.01, 1)]) == "not enough records"  # nothing to compare with
    both = fastest_verdict(full + overlap)
    assert both.startswith("shown on cpu: ") and "; not shown on cpu compiled: " in both
