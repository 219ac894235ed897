"""The CLI through Typer's test runner: run, resume, errors, report, list, data and train."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from attacks.base import Attack
from bench.cli import app
from bench.data.synth_digits import PEAK
from bench.io import check_writable_folder
from bench.results import iter_records
from bench.spec import config_id
from bench.victim_loader import load_victim
from tests.conftest import TINY_OPTIONS, kill_after_first_record

runner = CliRunner()
RUN = ["run", "--steps", "2", "--n", "10", "--seeds", "2", "--no-progress", *TINY_OPTIONS]
MEASURED = ("cell_id", "spec", "clean_acc_victim", "clean_acc", "robust_acc", "per_sample", "budget", "subset", "n")


def bench_run(results: Path, *extra: str):
    return runner.invoke(app, [*RUN, "--results", str(results), *extra])


def records(results: Path) -> list[dict]:
    return sorted(iter_records(results), key=lambda r: r["spec"]["seed"])


def test_run_writes_one_complete_record_per_seed(tmp_path: Path, tiny_synth):
    out = bench_run(tmp_path / "runs")
    assert out.exit_code == 0, out.output
    assert "clean (victim)" in out.output and "robust" in out.output and "±" in out.output
    recs = records(tmp_path / "runs")
    assert [r["spec"]["seed"] for r in recs] == [0, 1]
    for r in recs:
        spec = r["spec"]
        assert spec["attack"] == {"name": "pgd", "params": {"norm": "linf", "eps": 0.002, "steps": 2,
                                                            "step_size": pytest.approx(0.0004), "random_start": False,
                                                            "eot": 1, "eot_batch": None, "restarts": 1,
                                                            "restart_by": "loss", "restart_draws": 10}}
        assert (spec["norm"], spec["eps"], spec["steps"], spec["eot"]) == ("linf", 0.002, 2, 1)
        assert (spec["draws"], spec["gradient_mode"], spec["defense"]["name"]) == (10, "exact", "none")
        assert "protocols" not in spec and r["config_id"] == config_id(spec)  # protocols are scored, not run
        assert r["draws"]["repeatable"] and len(r["draws"]["predictions"]) == 1  # undefended: drawn once
        assert spec["victim"]["name"] == "resnext29" and len(spec["victim"]["params"]["weights_sha256"]) == 64
        assert spec["data"]["params"] == {"clips_per_voice": 2, "voices": 2, "seed": 0, "peak_min": PEAK[0],
                                          "peak_max": PEAK[1]}
        assert spec["data"]["split_hash"] == tiny_synth.load("test").content_hash()  # the data's identity
        assert r["data_provenance"]["content_hash"] == tiny_synth.info()["content_hash"]
        assert r["data_provenance"]["matches_reference"] is None  # no reference build for the tiny parameters
        assert spec["data"]["subset"]["hash"] == r["subset"]["hash"] and len(r["subset"]["ids"]) == 10
        assert r["clean_acc_victim"] == 100.0 and r["n"] == 10
        assert all(len(v) == 10 for v in r["per_sample"].values())
        assert r["robust_acc"] == 10 * sum(r["per_sample"]["robust"]) == r["protocols"]["final@1"]
        assert set(r["protocols"]) == {"final@1", "vote@10", "avg@10", "worst@10", "any_iter"}
        assert r["queries"]["per_clip"] == 2 and r["checks"]["warnings"] == []
        assert not r["checks"]["randomized"] and r["checks"]["snr_db"]["min"] > 0
        assert r["budget"]["violations"] == 0 and r["budget"]["max_linf"] <= 0.002 + 1e-6
        code = r["environment"]["code"]  # a modified checkout also says what its changes hash to
        assert set(code) == {"scrbench", "commit", "dirty"} | ({"changes_sha256"} if code["dirty"] else set())
        assert r["environment"]["packages"]["torch"].startswith("2.11.0")
    first, second = recs  # PGD without a random start on the undefended victim: nothing random, one cell
    assert first["seconds"]["total"] > 0 and first["seconds"]["attack"] > 0
    assert second["seconds"]["shared"] == {"seed": 0, "attack": first["seconds"]["attack"]}
    per_seed = ("cell_id", "spec", "seconds", "created", "environment")
    assert {k: v for k, v in first.items() if k not in per_seed} == {k: v for k, v in second.items()
                                                                      if k not in per_seed}
    assert "seed 0's cell: nothing in it is random" in out.output


def test_same_command_gives_the_same_numbers_and_reruns_skip(tmp_path: Path, tiny_synth):
    assert bench_run(tmp_path / "a").exit_code == 0
    assert bench_run(tmp_path / "b").exit_code == 0
    a, b = records(tmp_path / "a"), records(tmp_path / "b")
    assert [{k: r[k] for k in MEASURED} for r in a] == [{k: r[k] for k in MEASURED} for r in b]
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "a").glob("*.json")}
    again = bench_run(tmp_path / "a")
    assert again.output.count("already done, skipped") == 2
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "a").glob("*.json")}


def test_killed_run_resumes_without_redoing_or_changing_cells(tmp_path: Path, tiny_synth):
    # a random start: every seed is its own cell (a random-free cell would be computed once, for every seed)
    args = [sys.executable, "-m", "bench", "run", "--steps", "4", "--n", "10", "--seeds", "4", "--no-progress",
            "-o", "attack.random_start=true", *TINY_OPTIONS]
    killed = tmp_path / "killed"
    finished = kill_after_first_record(args, killed)
    assert 1 <= len(finished) < 4, "the run should have been killed part-way"
    out = runner.invoke(app, [*args[3:], "--results", str(killed)])
    assert out.exit_code == 0, out.output
    assert out.output.count("already done, skipped") == len(finished)
    assert all(killed.joinpath(name).stat().st_mtime_ns == t for name, t in finished.items())
    assert runner.invoke(app, [*args[3:], "--results", str(tmp_path / "whole")]).exit_code == 0
    resumed, whole = records(killed), records(tmp_path / "whole")
    assert len(resumed) == 4 and not list(killed.glob(".*.tmp"))
    assert [{k: r[k] for k in MEASURED} for r in resumed] == [{k: r[k] for k in MEASURED} for r in whole]


@pytest.mark.parametrize("extra, message", [
    (["--defense", "nope"], "unknown defense 'nope'; valid: "),
    (["--attack", "pgd2"], "unknown attack 'pgd2'; valid: adaptive, apgd, art, bandlimited, diffhammer, fakebob, "
                           "mifgsm, pgd, tsmifgsm"),
    (["--surrogate", "vgg19"], "attack 'pgd' has no parameter 'surrogate'"),
    (["--draws", "2", "--vote", "3"], "--vote between 1 and --draws"),
    (["--attack", "fakebob", "--norm", "l2"], "attack 'fakebob': norm='l2' is not valid; expected one of 'linf'"),
    (["--attack", "art", "-o", "name=Nope"], "art: unknown ART evasion attack 'Nope'"),
    (["-o", "eot=abc"], "attack 'pgd': eot='abc' is not valid; expected int"),
    (["-o", "norm=l3"], "attack 'pgd': norm='l3' is not valid; expected one of 'linf', 'l2'"),
    (["-o", "wat=1"], "-o wat: no plugin of this run has that parameter; valid:"),
    (["-o", "victim.config=paper"], "has no shipped weights; train them with `bench train victim"),
    (["-o", "data.voices=0"], "clips_per_voice and voices must be at least 1"),
    (["--eps", "0.001", "-o", "eps=0.003"], "given twice"),
    (["--device", "cuda:7"], "--device"),
    (["-o", "stepsize"], "is not key=value"),
])
def test_bad_input_gives_one_clear_line(tmp_path: Path, tiny_synth, extra: list[str], message: str):
    out = bench_run(tmp_path / "runs", *extra)
    assert out.exit_code == 2
    assert out.output.startswith("error: ") and message in out.output and out.output.count("\n") == 1
    assert not list(iter_records(tmp_path / "runs"))


@pytest.mark.parametrize("extra, line", [
    (["--eps", "0"], "error: pgd: eps must be a finite number > 0, got 0"),
    (["--eps", "inf"], "error: pgd: eps must be a finite number > 0, got inf"),
    (["--eps", "nan"], "error: pgd: eps must be a finite number > 0, got nan"),
    (["-o", "eps=inf"], "error: pgd: eps must be a finite number > 0, got inf"),
    (["--steps", "-3"], "error: --steps -3: must be at least 1"),
    (["--eot", "0"], "error: --eot 0: must be at least 1"),
    (["--seeds", "-1"], "error: --seeds -1: must be at least 1"),
    (["--n", "0"], "error: --n 0: must be at least 1"),
    (["--draws", "0"], "error: --draws 0: must be at least 1"),
    (["--vote", "0"], "error: --vote 0: must be at least 1"),
    (["--batch-size", "0"], "error: --batch-size 0: must be at least 1"),
    (["--grid", "table1", "--seeds", "0"], "error: --seeds 0: must be at least 1"),
])
def test_bad_numbers_fail_in_one_line_before_any_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     extra: list[str], line: str):
    home = tmp_path / "home"  # empty: any dataset build or load would fill it
    monkeypatch.setenv("SCRBENCH_HOME", str(home))
    out = runner.invoke(app, ["run", "--no-progress", "--results", str(tmp_path / "runs"), *TINY_OPTIONS, *extra])
    assert (out.exit_code, out.output) == (2, f"{line}\n")
    assert not home.exists() and not (tmp_path / "runs").exists()


def _results_fail_before_any_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: Path, line: str) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SCRBENCH_HOME", str(home))
    single = runner.invoke(app, ["run", "--no-progress", "--results", str(results), *TINY_OPTIONS])
    grid = runner.invoke(app, ["run", "--grid", "table1", "--n", "10", "--seeds", "1", "--no-progress",
                               "--results", str(results)])
    for out in (single, grid):
        assert (out.exit_code, out.output) == (2, f"{line}\n")
    assert not home.exists()


def test_results_path_that_is_a_file_fails_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    results = tmp_path / "runs.json"
    results.write_text("{}")
    _results_fail_before_any_data(tmp_path, monkeypatch, results, f"error: --results {results} is a file, not a "
                                  "folder; pass a folder path (it is created if missing)")
    _results_fail_before_any_data(tmp_path, monkeypatch, results / "runs", f"error: --results {results / 'runs'} "
                                  "cannot be written (Not a directory); fix its permissions or pass a folder you "
                                  "can write to")


def test_unwritable_results_folder_fails_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    results = tmp_path / "runs"
    results.mkdir(mode=0o500)
    try:
        if os.geteuid() == 0:  # root writes whatever the permission bits say
            try:
                (results / "probe").touch()
            except PermissionError:
                pass
            else:
                pytest.skip("running as root: a 0o500 folder is still writable")
        _results_fail_before_any_data(tmp_path, monkeypatch, results, f"error: --results {results} cannot be "
                                      "written (Permission denied); fix its permissions or pass a folder you can "
                                      "write to")
    finally:
        results.chmod(0o700)


def test_results_folder_is_created_and_probed_without_leaving_anything(tmp_path: Path):
    check_writable_folder(tmp_path / "a" / "b", "--results")
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())


def test_corrupt_checkpoint_is_reported_in_one_line(tmp_path: Path, tiny_synth):
    bad = tmp_path / "victim.safetensors"
    bad.write_bytes(b"\x00" * 64)
    out = bench_run(tmp_path / "runs", "-o", f"victim.weights={bad}")
    assert out.exit_code == 2 and "is corrupt" in out.output and out.output.count("\n") == 1


class EscapingAttack(Attack):
    """Steps outside its budget on purpose."""

    norm, eps = "linf", 0.002

    def perturb(self, model, x, y, generator, on_step=None):
        return (x + 0.01).clamp(-1, 1)

    def params(self):
        return {"norm": "linf", "eps": 0.002}

    @property
    def gradient_mode(self):
        return "exact"


def test_budget_violation_fails_the_cell_loudly(tmp_path: Path, tiny_synth, temporary_plugin):
    temporary_plugin("attack", "escape", EscapingAttack)
    out = runner.invoke(app, ["run", "--attack", "escape", "--n", "10", "--seeds", "1", "--no-progress",
                              "--results", str(tmp_path / "runs"), *TINY_OPTIONS])
    assert out.exit_code == 2 and "broke its budget" in out.output and "10 outside the ball" in out.output
    assert not list(iter_records(tmp_path / "runs"))
    (failed,) = (tmp_path / "runs").glob("*.failed.json")
    assert "broke its budget" in json.loads(failed.read_text())["error"]


def test_report_tabulates_mean_and_interval_over_clips_and_seeds(tmp_path: Path, tiny_synth):
    runs = tmp_path / "runs"
    assert bench_run(runs).exit_code == 0
    assert bench_run(runs, "--steps", "1").exit_code == 0
    out = runner.invoke(app, ["report", "--results", str(runs), "--out", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "resnext29/slim on synth-digits — protocol final@1" in markdown
    table = pd.read_csv(tmp_path / "report" / "report.csv")
    assert list(table.columns[:4]) == ["defense", "Clean", "PGD-1 L∞ ε=0.002", "PGD-2 L∞ ε=0.002"]
    recs = records(runs)
    from bench.report.scores import per_clip
    from bench.stats import clip_bootstrap

    two_step = sorted((r for r in recs if r["spec"]["steps"] == 2), key=lambda r: r["spec"]["seed"])
    mean, low, high = clip_bootstrap([per_clip(r, "final@1") for r in two_step])
    assert mean == pytest.approx(sum(r["robust_acc"] for r in two_step) / len(two_step))
    assert table.loc[0, "PGD-2 L∞ ε=0.002"] == f"{mean:.1f} [{low:.1f}, {high:.1f}]"
    assert "mean [95 % interval: percentile bootstrap over clips, each clip with all its seeds]" in markdown
    cells = pd.read_csv(tmp_path / "report" / "cells.csv")
    assert len(cells) == 4 * 5 and set(cells["protocol"]) == {"final@1", "vote@10", "avg@10", "worst@10", "any_iter"}
    by_cell = {r["cell_id"]: r for r in recs}  # the clips' level beside ε, from each record
    for _, row in cells.iterrows():
        checks = by_cell[row["cell_id"]]["checks"]
        assert row["clip_peak_median"] == pytest.approx(checks["levels"]["peak_median"])
        assert row["snr_db_median"] == pytest.approx(checks["snr_db"]["median"])
    assert "protocol any_iter (released code's metric" in markdown and "\n4 cells from" in markdown
    empty = runner.invoke(app, ["report", "--results", str(tmp_path / "none")])
    assert empty.exit_code == 2 and "no result records" in empty.output


def test_list_shows_every_kind_with_its_source():
    out = runner.invoke(app, ["list"])
    assert out.exit_code == 0
    for line in ("defenses:", "attacks:", "victims:", "datasets:", "  pgd ", "  synth-digits", "(scrbench 0.1.0)"):
        assert line in out.output
    assert "[configs: slim*, paper; * = shipped weights]" in runner.invoke(app, ["list", "victims"]).output
    bad = runner.invoke(app, ["list", "widgets"])
    assert bad.exit_code == 2 and "valid: defenses, attacks, victims, datasets" in bad.output


def test_data_prepare_builds_and_reports_sizes(tiny_synth):
    out = runner.invoke(app, ["data", "prepare", "synth-digits", "-o", "voices=2", "-o", "clips_per_voice=2"])
    assert out.exit_code == 0 and "train 40, valid 40, test 40" in out.output
    nothing = runner.invoke(app, ["data", "prepare", "synth-digits", "--download"])
    assert nothing.exit_code != 0 and "nothing to download" in nothing.output


def test_train_victim_writes_loadable_weights_and_a_card(tmp_path: Path, tiny_synth):
    out = runner.invoke(app, ["train", "victim", "--epochs", "1", "--batch-size", "20", "--out", str(tmp_path),
                              "--no-progress", "-o", "data.voices=2", "-o", "data.clips_per_voice=2"])
    assert out.exit_code == 0, out.output
    card = json.loads((tmp_path / "resnext29-slim.json").read_text())
    assert card["command"] == ("bench train victim --arch resnext29 --config slim --data synth-digits --epochs 1 "
                               "--batch-size 20 --lr 0.05 --weight-decay 0.0005 --seed 0 --noise-min 0.001 --noise-max 0.25 --noise-p 0.5 "
                               "-o data.voices=2 -o data.clips_per_voice=2")
    assert card["dataset"]["test_hash"] == tiny_synth.load("test").content_hash()
    assert card["n_params"] == 805962 and 0 <= card["clean_test_acc"] <= 100
    victim = load_victim("resnext29", {"weights": str(tmp_path / "resnext29-slim.safetensors")})
    assert victim.weights_sha256 == card["sha256"] and not victim.classifier.training


@pytest.mark.parametrize("args, start, end", [
    # rejected by Typer: the fix is the command's help
    (["run", "--steps", "abc"], "error: invalid value for '--steps': ", "see `bench run --help`"),
    (["run", "--stepz", "3"], "error: no such option: --stepz", "see `bench run --help`"),
    (["train", "meldiff", "--steps", "x"], "error: invalid value for '--steps': ", "see `bench train meldiff --help`"),
    (["data", "prepare"], "error: missing argument 'name'", "see `bench data prepare --help`"),
    (["nope"], "error: no such command 'nope'", "see `bench --help`"),
    # rejected by the harness: the line names what is valid or what to do
    (["run", "--defense", "nope"], "error: unknown defense 'nope'; valid: ", "oneshot, resample"),
    (["train", "meldiff", "-o", "voices=2"], "error: -o voices: only data.key=value options apply here", "here"),
    (["data", "prepare", "synth-digits", "--download"], "error: dataset 'synth-digits' has nothing to download",
     "drop --download"),
])
def test_every_bad_input_is_one_error_line_whoever_rejects_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             args: list[str], start: str, end: str):
    monkeypatch.setenv("SCRBENCH_HOME", str(tmp_path / "home"))
    extra = ["--results", str(tmp_path / "runs")] if args[0] == "run" else []
    out = runner.invoke(app, [*args, *extra])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert out.output.startswith(start) and out.output.endswith(f"{end}\n"), out.output
    assert "╭" not in out.output and "Traceback" not in out.output and "Usage:" not in out.output


def test_debug_mode_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bench.errors import UnknownPlugin

    monkeypatch.setenv("SCRBENCH_DEBUG", "1")
    out = runner.invoke(app, ["run", "--defense", "nope", "--results", str(tmp_path / "runs")])
    assert isinstance(out.exception, UnknownPlugin)
