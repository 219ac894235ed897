"""Experiment grids: every shipped grid expands under both profiles; a tiny grid runs, resumes and reruns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import CheckpointError
from bench.executors import cells_of, execute
from bench.grid import GRIDS_DIR, expand, grid_names, load_grid
from bench.results import iter_records
from bench.runner import Run
from bench.spec import config_id, plan
from tests.conftest import kill_after_first_record

runner = CliRunner()
MEASURED = ("cell_id", "spec", "clean_acc_victim", "clean_acc", "robust_acc", "protocols", "per_sample",
            "scored_steps", "budget", "n")

# Two configurations (none, diffnoise) × 2 seeds on 4 clips of the tiny synth-digits build, PGD-2 scored at 1.
TINY_GRID = """
title = "Tiny grid"
paper = "dualpure"  # its display names label the rows; it has no numbers for an artefact "tiny"
layout = "table"
rows = ["None", "DiffNoise"]
columns = ["Clean (bare)", "Clean", "L∞ PGD-1", "L∞ PGD-2"]
caption = "tiny test grid"

[profile.quick]
n = 10
seeds = 2
batch_size = 4
draws = 2
options = { "data.voices" = 2, "data.clips_per_voice" = 2 }

[[run]]
row = "{defense}"
column = "{norm} PGD-{steps}"
clean_column = "Clean"
bare_column = "Clean (bare)"
defense = ["none", "diffnoise"]
steps = 2
score_at = [1]
"""


def tiny_grid(folder: Path) -> Path:
    path = folder / "tiny.toml"
    path.write_text(TINY_GRID)
    return path


def run_grid(grid: Path, results: Path, *extra: str):
    return runner.invoke(app, ["run", "--grid", str(grid), "--results", str(results), "--threads", "1",
                               "--no-progress", *extra])


def measured(results: Path) -> list[dict]:
    recs = sorted(iter_records(results), key=lambda r: r["cell_id"])
    return [{k: r.get(k) for k in MEASURED} for r in recs]


@pytest.mark.parametrize("profile", ["quick", "paper"])
@pytest.mark.parametrize("name", grid_names())
def test_every_shipped_grid_expands_under_both_profiles(tmp_path: Path, name: str, profile: str):
    out = runner.invoke(app, ["run", "--grid", name, "--profile", profile, "--dry-run", "--results", str(tmp_path)])
    assert out.exit_code == 0, out.output
    grid = load_grid(name)
    runs = expand(grid, profile, tmp_path)
    cells = cells_of([r.config for r in runs])
    assert f"profile {profile}: {len(runs)} configurations, {len(cells)} cells" in out.output
    assert out.output.count("  run ") == len(runs)
    # every labelled run lands in the artefact's declared rows and columns
    for r in runs:
        if r.row is not None:
            assert r.row in grid.rows, (r.row, grid.rows)
            assert set(r.columns.values()) <= set(grid.columns), (r.columns, grid.columns)
    assert not list(tmp_path.iterdir()), "a dry run writes nothing"


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_no_cell_takes_another_cells_record(tmp_path: Path, profile: str):
    """Across every shipped grid, two configurations never share a configuration id (the report's exact key):
    a cell at the attack's default ε (fig3b's DualPure at 0.002) once took fig3a's record at ε = 0.008, which
    has the same defense and victim and records ε where the cell left it unset."""
    ids: dict[str, str] = {}
    planned_runs = 0
    for name in grid_names():
        for r in expand(load_grid(name), profile, tmp_path):
            try:
                planned = plan(r.config)
            except CheckpointError:  # a transfer surrogate whose paper-size weights are not shipped
                continue
            key = json.dumps(planned.spec, sort_keys=True)
            assert ids.setdefault(planned.config_id, key) == key, (name, r.index)
            planned_runs += 1
    assert planned_runs > 90 and len(ids) > 90  # grids share a few configurations (fig3b and table1)


@pytest.mark.slow
@pytest.mark.parametrize("name", grid_names())
def test_report_finds_the_record_of_every_quick_cell(tmp_path: Path, tiny_synth, name: str):
    """The configuration id the report looks for (planned from the grid alone) is the one ``bench run``
    records: every configuration is set up on tiny data and its spec compared, without attacking anything."""
    tiny = [("data.voices", "2"), ("data.clips_per_voice", "2")]
    runs = expand(load_grid(name), "quick", tmp_path, tiny, n=10, seeds=1, device="cpu", progress=False)
    checked = 0
    for r in runs:
        try:
            run = Run(r.config, log=lambda _: None)
        except CheckpointError:  # a victim whose slim weights are not shipped (yet)
            continue
        assert config_id(run.spec(0)) == plan(r.config).config_id == run.plan.config_id, (r.index, r.config)
        checked += 1
    assert checked >= len(runs) // 2


def test_headline_profile_holds_the_reference_headline_runs_only(tmp_path: Path):
    """``headline``: 100 clips × 3 seeds of Table 1's L∞ PGD-100 and EOT-20 runs (not L2 nor the large-ε
    check), Table 3's FakeBob column, Figs. 2(a)/(b), and the adaptive grid for five defenses."""
    def configs(name: str, profile: str) -> set[tuple]:
        return {(r.config.defense, r.config.attack, r.config.attack_options["norm"], r.config.attack_options["eps"],
                 r.config.attack_options["eot"], tuple(r.config.options))
                for r in expand(load_grid(name), profile, tmp_path)}

    for name in ("table1", "table3", "fig2a", "fig2b", "adaptive"):
        runs = expand(load_grid(name), "headline", tmp_path)
        assert {(r.config.n, len(r.config.seeds)) for r in runs} == {(100, 3)}
        assert configs(name, "headline") <= configs(name, "quick")
    table1 = configs("table1", "headline")
    assert {c[2] for c in table1} == {"linf", None} and {c[3] for c in table1} == {None} and len(table1) == 14
    assert {c[1] for c in configs("table3", "headline")} == {"fakebob"}
    assert {c[0] for c in configs("adaptive", "headline")} == {"none", "diffnoise", "ddpm", "dualpure", "audiopure"}
    assert configs("fig2b", "headline") == configs("fig2b", "quick")
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_GRID + 'profiles = ["quick", "huge"]\n')
    out = runner.invoke(app, ["run", "--grid", str(bad), "--dry-run"])
    assert out.exit_code == 2 and "run 1: names unknown profile 'huge'; valid: quick" in out.output


def test_grid_names_and_bad_grid_input(tmp_path: Path):
    assert grid_names() == sorted(p.stem for p in GRIDS_DIR.glob("*.toml")) and "table1" in grid_names()
    out = runner.invoke(app, ["run", "--grid", "table9", "--dry-run"])
    assert out.exit_code == 2 and out.output.count("\n") == 1
    assert "unknown grid 'table9'; valid: adaptive, fig2a" in out.output
    out = runner.invoke(app, ["run", "--grid", "table1", "--profile", "huge", "--dry-run"])
    assert out.exit_code == 2 and "has no profile 'huge'; valid: quick, headline, paper" in out.output
    out = runner.invoke(app, ["run", "--grid", "table1", "--steps", "3", "--dry-run"])
    assert out.exit_code == 2 and "--steps does not apply with --grid" in out.output
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_GRID.replace("score_at", "scored_at"))
    out = runner.invoke(app, ["run", "--grid", str(bad), "--dry-run"])
    assert out.exit_code == 2 and "unknown key 'scored_at'" in out.output


def test_tiny_grid_runs_through_the_local_executor_and_skips_on_rerun(tmp_path: Path, tiny_synth):
    grid = tiny_grid(tmp_path)
    out = run_grid(grid, tmp_path / "runs")
    assert out.exit_code == 0, out.output
    assert "4 cells run, 0 already done, 0 failed" in out.output
    recs = list(iter_records(tmp_path / "runs"))
    assert sorted((r["spec"]["defense"]["name"], r["spec"]["seed"]) for r in recs) == \
        [("diffnoise", 0), ("diffnoise", 1), ("none", 0), ("none", 1)]
    for r in recs:
        assert r["n"] == 10 and r["spec"]["score_at"] == [1] and [c["step"] for c in r["scored_steps"]] == [1]
        assert r["spec"]["data"]["params"]["voices"] == 2 and r["spec"]["draws"] == 2
    again = run_grid(grid, tmp_path / "runs")
    assert again.exit_code == 0 and "0 cells run, 4 already done, 0 failed" in again.output
    check = runner.invoke(app, ["run", "--grid", str(grid), "--check", "--results", str(tmp_path / "runs")])
    assert check.exit_code == 0 and "4 of 4 cells done" in check.output and "to run" not in check.output
    (tmp_path / "runs" / f"{recs[0]['cell_id']}.json").unlink()  # one cell lost: --check names it, runs nothing
    check = runner.invoke(app, ["run", "--grid", str(grid), "--check", "--results", str(tmp_path / "runs")])
    assert check.exit_code == 1 and "3 of 4 cells done" in check.output
    assert f"1 of 2 done; to run: seed {recs[0]['spec']['seed']} [{recs[0]['cell_id']}]" in check.output
    assert len(list(iter_records(tmp_path / "runs"))) == 3


class Interrupt(Exception):
    pass


def test_interrupted_grid_reruns_to_the_same_cells_and_table(tmp_path: Path, tiny_synth):
    grid = tiny_grid(tmp_path)
    # interrupt after the second finished cell: the executor stops mid-grid, as a killed run would
    runs = expand(load_grid(grid), "quick", tmp_path / "killed", progress=False)
    logged: list[str] = []

    def log(line: str) -> None:
        logged.append(line)
        if len(logged) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        execute(cells_of([r.config for r in runs]), "local", 1, 1, log=log)
    assert len(list(iter_records(tmp_path / "killed"))) == 2
    resumed = run_grid(grid, tmp_path / "killed")
    assert resumed.exit_code == 0 and "2 cells run, 2 already done, 0 failed" in resumed.output
    assert run_grid(grid, tmp_path / "whole").exit_code == 0
    assert measured(tmp_path / "killed") == measured(tmp_path / "whole")
    assert len(list((tmp_path / "killed").glob("*.json"))) == 4 and not list((tmp_path / "killed").glob(".*"))
    tables = []
    for name in ("killed", "whole"):
        out = runner.invoke(app, ["report", "--results", str(tmp_path / name), "--out", str(tmp_path / f"r-{name}"),
                                  "--grid", str(grid)])
        assert out.exit_code == 0, out.output
        tables.append((tmp_path / f"r-{name}" / "tiny-quick.csv").read_text())
    assert tables[0] == tables[1] and "missing" not in tables[0]


def test_killed_grid_process_reruns_to_the_same_cells(tmp_path: Path, tiny_synth):
    grid = tmp_path / "tiny4.toml"
    grid.write_text(TINY_GRID.replace("seeds = 2", "seeds = 4"))  # 8 cells: room to kill it part-way
    args = [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--threads", "1", "--no-progress"]
    killed = tmp_path / "killed"
    finished = kill_after_first_record(args, killed, env={"OMP_NUM_THREADS": "1"})
    assert 1 <= len(finished) < 8, "the grid should have been killed part-way"
    resumed = run_grid(grid, killed)
    assert resumed.exit_code == 0, resumed.output
    assert f"{8 - len(finished)} cells run, {len(finished)} already done, 0 failed" in resumed.output
    assert all(killed.joinpath(name).stat().st_mtime_ns == t for name, t in finished.items())
    assert run_grid(grid, tmp_path / "whole").exit_code == 0
    assert measured(killed) == measured(tmp_path / "whole") and len(measured(killed)) == 8
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())


def test_tiny_grid_through_a_local_ray_instance_gives_the_same_records(tmp_path: Path, tiny_synth):
    pytest.importorskip("ray")
    grid = tiny_grid(tmp_path)
    out = run_grid(grid, tmp_path / "ray", "--executor", "ray", "--workers", "1")
    assert out.exit_code == 0, out.output
    assert "4 cells run, 0 already done, 0 failed" in out.output
    assert run_grid(grid, tmp_path / "local").exit_code == 0
    assert measured(tmp_path / "ray") == measured(tmp_path / "local")
