"""``bench report`` on grids: artefact tables and figures, partial results, determinism, checks, findings."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.grid import load_grid
from bench.papers.dualpure import findings
from bench.perf import DIFFUSION, PERF_SCHEMA
from bench.report.artefacts import Artefact, Value
from bench.report.checks import NOT_ENOUGH, sanity_checks
from bench.results import iter_records
from tests.test_grid import TINY_GRID, run_grid

runner = CliRunner()
# The same cells as the tiny table grid, laid out as a line figure and as a bar figure.
LINES = (TINY_GRID.replace('layout = "table"', 'layout = "lines"')
         .replace('columns = ["Clean (bare)", "Clean", "L∞ PGD-1", "L∞ PGD-2"]',
                  'columns = ["1", "2"]\nx_label = "PGD steps"')
         .replace('column = "{norm} PGD-{steps}"', 'column = "{steps}"')
         .replace('title = "Tiny grid"', 'title = "Tiny lines"'))
BARS = LINES.replace('layout = "lines"', 'layout = "bars"').replace('title = "Tiny lines"', 'title = "Tiny bars"')


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory, tiny_synth) -> tuple[Path, list[str]]:
    """Records of the tiny grid (none, diffnoise × 2 seeds), and the three grid files laying them out."""
    folder = tmp_path_factory.mktemp("tiny-report")
    grids = []
    for name, text in (("tiny", TINY_GRID), ("tinylines", LINES), ("tinybars", BARS)):
        (folder / f"{name}.toml").write_text(text)
        grids.append(str(folder / f"{name}.toml"))
    out = run_grid(Path(grids[0]), folder / "runs")
    assert out.exit_code == 0, out.output
    return folder / "runs", grids


def report(results: Path, out: Path, grids: list[str], perf: Path | None = None):
    args = ["report", "--results", str(results), "--out", str(out), *(a for g in grids for a in ("--grid", g))]
    result = runner.invoke(app, [*args, *(["--perf", str(perf)] if perf else [])])
    assert result.exit_code == 0, result.output
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_report_writes_every_artefact_and_is_byte_identical_twice(tmp_path: Path, tiny_runs):
    results, grids = tiny_runs
    first = report(results, tmp_path / "a", grids)
    second = report(results, tmp_path / "b", grids)
    assert first == second
    again = report(results, tmp_path / "a", grids)  # over its own output, too
    assert again == first
    for stem in ("tiny-quick", "tinylines-quick", "tinybars-quick"):
        assert {f"{stem}.md", f"{stem}.csv", f"{stem}.tex"} <= set(first)
    assert "tiny-quick.png" not in first
    for png in ("tinylines-quick.png", "tinybars-quick.png"):
        assert first[png].startswith(b"\x89PNG") and b"Software" not in first[png] and b"tIME" not in first[png]
    index = first["index.md"].decode()
    for name in ("tiny-quick.md", "tinylines-quick.png", "tinybars-quick.tex", "report.md", "cells.csv"):
        assert f"]({name})" in index
    assert "## Sanity checks" in index and "| perturbation budget respected everywhere | pass |" in index
    assert index.count(f"**{NOT_ENOUGH}") == 5  # (a)–(e): no paper grid, no perf record here
    table = first["tiny-quick.md"].decode()
    assert "protocol final@1" in table and "protocol any_iter (released code's metric" in table
    assert "| None | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] |" in table and "![" not in table
    assert "mean [95 % interval: percentile bootstrap over clips, each clip with all its seeds]" in table
    assert "![Tiny lines](tinylines-quick.png)" in first["tinylines-quick.md"].decode()
    tex = first["tiny-quick.tex"].decode()
    assert r"\begin{tabular}{lcccc}" in tex and r"L$\infty$ PGD-2" in tex and "100.0 [100.0, 100.0]" in tex
    csv = first["tiny-quick.csv"].decode().splitlines()
    assert csv[0] == "artefact,profile,protocol,row,column,mean,std,low95,high95,seeds,seeds_expected,paper"
    assert "tiny,quick,final@1,DiffNoise,L∞ PGD-1,100.0000,0.0000,100.0000,100.0000,2,2," in csv


def test_partial_results_show_missing_cells_and_missing_seeds(tmp_path: Path, tiny_runs):
    results, grids = tiny_runs
    partial = tmp_path / "partial"
    partial.mkdir()
    for r in iter_records(results):  # keep the undefended cells, and diffnoise's seed 0 only
        if r["spec"]["defense"]["name"] == "none" or r["spec"]["seed"] == 0:
            shutil.copy(results / f"{r['cell_id']}.json", partial)
    files = report(partial, tmp_path / "out", grids[:2])
    table = files["tiny-quick.md"].decode()
    assert "| DiffNoise | 100.0 [100.0, 100.0] (1/2 seeds) |" in table and "3 of 4 cells found" in table
    only_none = tmp_path / "none"
    only_none.mkdir()
    for r in iter_records(results):
        if r["spec"]["defense"]["name"] == "none":
            shutil.copy(results / f"{r['cell_id']}.json", only_none)
    files = report(only_none, tmp_path / "out2", grids[:2])
    assert "| DiffNoise | missing | missing | missing | missing |" in files["tiny-quick.md"].decode()
    assert ",DiffNoise,L∞ PGD-1,,,,,0,2," in files["tiny-quick.csv"].decode()
    assert files["tinylines-quick.png"].startswith(b"\x89PNG")


def perf_record(name: str, seconds: float, batch: int = 1) -> dict:
    return {"kind": "perf", "schema": PERF_SCHEMA, "defense": name, "params": {}, "device": "cpu", "batch": batch,
            "repeats": 3, "warmup": 2, "environment": {"device_name": "cpu"}, "created": "2026-01-01T00:00:00+00:00",
            "seconds_per_clip": {"mean": seconds, "std": 0.001, "min": seconds, "runs": [seconds] * 3}}


def test_perf_records_make_table4_and_finding_d(tmp_path: Path, tiny_runs):
    results, grids = tiny_runs
    perf = tmp_path / "perf"
    perf.mkdir()
    for i, name in enumerate(DIFFUSION):
        seconds = 0.01 if name == "dualpure" else 0.1 + i / 100
        (perf / f"{name}-cpu-b1.perf.json").write_text(json.dumps(perf_record(name, seconds)))
    (perf / "ddpm-cpu-b16.perf.json").write_text(json.dumps(perf_record("ddpm", 0.05, 16)))
    files = report(results, tmp_path / "out", grids[:1], perf)
    table4 = files["table4.md"].decode()
    assert "| Defense | cpu batch 1 | cpu batch 16 | paper (RTX 3090) |" in table4
    assert "| DualPure | 10 ± 1 ms | missing | 26.6 ms |" in table4
    from bench.report.format import fmt_duration  # a batched GPU purifier: microseconds, never "0.0000 s"
    assert fmt_duration(6.4e-4, 1e-5) == "640 ± 10 µs" and fmt_duration(1.742) == "1.74 s"
    rival = DIFFUSION[0] if DIFFUSION[0] != "dualpure" else DIFFUSION[1]  # the fastest of the others here
    assert (f"**shown on cpu: next fastest {rival} / DualPure = 10.00× [range over repeats 10.00, 10.00] (DualPure "
            f"0.0100 s/clip, {rival} 0.1000)**") in files["index.md"].decode()
    assert {"table4.csv", "table4.tex"} <= set(files)


def art_with(grid: str, values: dict[tuple[str, str], list[float]], subset: str = "s") -> Artefact:
    """An artefact of 2 seeds × 20 clips; a cell at v % has its first v/5 clips robust (so cells pair up)."""
    art = Artefact(load_grid(grid), "quick", 2)
    for (row, column), vs in values.items():
        art.values += [Value(row, column, "final@1", seed, v, 20, row, column, {},
                             tuple([1.0] * int(v // 5) + [0.0] * (20 - int(v // 5))), subset)
                       for seed, v in enumerate(vs)]
    return art


def test_findings_give_a_paired_verdict_with_the_effect_and_its_interval():
    arts = {"fig2a": art_with("fig2a", {("AudioPure (exact)", "10"): [5, 10], ("AudioPure (adjoint)", "10"): [40, 45]}),
            "fig2b": art_with("fig2b", {("DiffNoise", "10"): [60, 60], ("DDPM", "10"): [60, 55],
                                        ("DiffRev", "10"): [20, 20]}),
            "table1": art_with("table1", {("DualPure", "L∞ PGD-100"): [70, 70], ("DiffNoise", "L∞ PGD-100"): [75, 75]}),
            "adaptive": art_with("adaptive", {("DualPure", "PGD-10"): [80, 80], ("DualPure", "Worst case"): [20, 30]})}
    verdicts = [v for _, v in findings(arts, [])]
    assert verdicts[0].startswith("shown: adjoint − exact = +35.0 points [95 % CI +")
    assert "(adjoint 42.5, exact 7.5; 20 clips × 2 seeds, paired bootstrap)" in verdicts[0]
    assert verdicts[1].startswith("shown: DDPM − DiffRev = +37.5 points")
    assert "DiffNoise − DiffRev = +40.0" in verdicts[1]
    assert "beside it, not part of the verdict: DiffNoise − DDPM = +2.5 points" in verdicts[1]
    # one clip apart out of 20: the interval reaches zero
    assert verdicts[2].startswith("not shown: DualPure − DiffNoise = -5.0 points [95 % CI -15.0, +0.0]")
    assert verdicts[3] == NOT_ENOUGH
    assert verdicts[4].startswith("shown: PGD-10 − worst case = +55.0 points")
    arts["table1"] = art_with("table1", {("DualPure", "L∞ PGD-100"): [20, 25], ("DiffNoise", "L∞ PGD-100"): [75, 75]})
    assert findings(arts, [])[2][1].startswith("contradicted: DualPure − DiffNoise = -52.5 points")
    arts["table1"].values = [v if v.row == "DualPure" else Value(**{**v.__dict__, "subset": "other"})
                             for v in arts["table1"].values]
    assert findings(arts, [])[2][1] == "not paired: DualPure and DiffNoise were measured on other clips or seeds"
    del arts["fig2b"].values[-1]  # one seed of DiffRev missing: the cell is not complete
    assert findings(arts, [])[1][1] == "not enough records: DiffRev / 10 has 1 of 2 seeds"
    arts["fig2a"].values = [Value(**{**v.__dict__, "clips": None}) for v in arts["fig2a"].values]
    assert "holds no per-clip scores" in findings(arts, [])[0][1]


def test_sanity_checks_warn_on_the_records_that_break_them(tiny_runs):
    results, _ = tiny_runs
    records = list(iter_records(results))
    status = {c.name: c.status for c in sanity_checks(records)}
    assert status["perturbation budget respected everywhere"] == "pass"
    assert status["randomized defenses attacked with EOT"] == "warn"  # diffnoise, no EOT record
    broken = copy.deepcopy(records)
    broken[0]["budget"]["violations"] = 1
    for r in list(broken):  # an undefended "PGD-10" that leaves everything correct, and a larger ε that helps
        if r["spec"]["defense"]["name"] == "none":
            r["spec"]["steps"] = 10
            twin = copy.deepcopy(r)
            twin["spec"]["eps"] = twin["spec"]["attack"]["params"]["eps"] = 0.05
            broken.append(twin)
    checks = {c.name: c for c in sanity_checks(broken)}
    assert checks["perturbation budget respected everywhere"].status == "warn"
    assert checks["undefended control ≤ 2% under PGD-10"].status == "warn"
    large = checks["large-ε PGD (≥ 10× the paper's ε) drives every defense to ≤ 10%"]
    twins = [r["protocols"]["final@1"] for r in broken if r["spec"]["eps"] == 0.05]
    assert sum(twins) / len(twins) > 10  # the tiny PGD-2 leaves the undefended victim above 10%, so it warns
    assert large.status == "warn" and f"none: {sum(twins) / len(twins):.1f}" in large.detail
    assert "no large-ε run for diffnoise" in large.detail


def test_paper_numbers_stand_beside_ours_and_in_the_csv(tmp_path: Path, tiny_runs):
    results, _ = tiny_runs
    as_table1 = (TINY_GRID.replace('title = "Tiny grid"', 'title = "Tiny table 1"\nartefact = "table1"')
                 .replace('columns = ["Clean (bare)", "Clean", "L∞ PGD-1", "L∞ PGD-2"]',
                          'columns = ["Clean", "L∞ PGD-10", "L∞ PGD-20", "EOT-20"]')
                 .replace('column = "{norm} PGD-{steps}"', 'column = "{norm} PGD-{steps}0"'))
    grid = tmp_path / "t1.toml"
    grid.write_text(as_table1)
    files = report(results, tmp_path / "out", [str(grid)])
    table = files["t1-quick.md"].decode()
    ours = r"\d+\.\d \[\d+\.\d, \d+\.\d\]"  # ours depend on the tiny data; where the paper's stand beside them does not
    assert re.search(rf"\| None \| {ours} \[100\] \| {ours} \[1\] \| {ours} \| missing \[0\] \|", table)
    assert "[paper] = Tan et al., Interspeech 2024 (DualPure)" in table and "its metric any_iter" in table
    assert "tiny,quick" not in files["t1-quick.csv"].decode()
    csv = files["t1-quick.csv"].decode()
    assert re.search(r"t1,quick,final@1,DiffNoise,L∞ PGD-10,(\d+\.\d{4},){4}2,2,87.8\n", csv)


def test_report_bad_input_gives_one_clear_line(tmp_path: Path, tiny_runs):
    results, _ = tiny_runs
    out = runner.invoke(app, ["report", "--results", str(results), "--out", str(tmp_path), "--grid", "table9"])
    assert out.exit_code == 2 and out.output.count("\n") == 1
    assert "unknown grid 'table9'; valid: adaptive, fig2a" in out.output
    out = runner.invoke(app, ["report", "--results", str(tmp_path / "nothing"), "--perf", str(tmp_path / "nope")])
    assert out.exit_code == 2 and "no result records under" in out.output


def test_report_scores_any_protocol_from_the_stored_draws(tmp_path: Path, tiny_runs):
    results, grids = tiny_runs  # the tiny grid stores 2 draws per example
    args = ["report", "--results", str(results), "--out", str(tmp_path / "out"), "--grid", grids[0]]
    out = runner.invoke(app, [*args, "--protocols", "vote@1,worst@2,avg@3"])
    assert out.exit_code == 0, out.output
    md = (tmp_path / "out" / "report.md").read_text()
    sections = {s.split("\n")[0]: s for s in md.split("## ")[1:]}
    assert [title.rsplit(" ", 1)[1] for title in sections] == ["vote@1", "avg@3", "worst@2"]  # display order
    avg3 = next(s for title, s in sections.items() if title.endswith("avg@3"))
    assert "| none " in avg3 and "| diffnoise " not in avg3  # 3 > 2 stored draws of a randomized defense
    bad = runner.invoke(app, [*args, "--protocols", "vote"])
    assert bad.exit_code == 2 and "write vote@COUNT" in bad.output and bad.output.count("\n") == 1
