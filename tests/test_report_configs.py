"""``bench report`` never averages two configurations, reads several folders, and names what it skipped.

Records are built here (no model runs): a spec like the runner's, values chosen so that an average of two
configurations would show a number that neither has.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.grid import expand, load_grid
from bench.report.checks import sanity_checks
from bench.report.configs import config_key, suffixes
from bench.results import SCHEMA, cell_id, iter_records, read_record
from bench.spec import cell_spec, config_id, plan
from tests.test_grid import TINY_GRID

runner = CliRunner()
SHIPPED, RETRAINED = "0117" + "a" * 60, "5a2c" + "b" * 60
SPEC: dict[str, Any] = {
    "schema": SCHEMA,
    "defense": {"name": "none", "params": {}, "weights": {}},
    "attack": {"name": "pgd", "params": {"eot": 1, "eps": 0.002, "norm": "linf", "random_start": False,
                                         "restarts": 1, "step_size": 0.0004, "steps": 10}},
    "victim": {"name": "resnext29", "params": {"config": "slim", "num_classes": 10, "weights_sha256": SHIPPED}},
    "data": {"name": "synth-digits", "params": {"clips_per_voice": 4, "seed": 0, "voices": None}, "split": "test",
             "subset": {"hash": "5639" + "c" * 60, "n": 20, "seed": 0}},
    "norm": "linf", "eps": 0.002, "steps": 10, "eot": 1, "seed": 0, "draws": 10,
    "gradient_mode": "exact", "batch_size": 10,
}


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        spec = spec.setdefault(key, {})
    spec[last] = value


def record(seed: int, robust: float, changes: dict[str, Any] | None = None, spec: dict[str, Any] | None = None,
           scored_steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC if spec is None else spec)
    for path, value in (changes or {}).items():
        _set(spec, path, value)
    spec["seed"] = seed
    return {"schema": SCHEMA, "status": "ok", "cell_id": cell_id(spec), "config_id": config_id(spec), "spec": spec,
            "labels": {"defense": spec["defense"]["name"], "attack": f"PGD-{spec['steps']} L∞ ε=0.002"},
            "n": 20, "clean_acc_victim": 100.0, "clean_acc": 100.0, "robust_acc": robust,
            "protocols": {"final@1": robust, "any_iter": robust}, "queries": {"per_clip": 10.0},
            "checks": {"snr_db": {"mean": 40.0}, "warnings": [], "randomized": False},
            "budget": {"violations": 0, "out_of_range": 0, "non_finite": 0}, "per_sample": {"robust": []},
            "scored_steps": scored_steps or [], "seconds": {"total": 1.0}, "created": f"2026-01-0{seed + 1}T00:00:00"}


def write(folder: Path, records: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        (folder / f"{r['cell_id']}.json").write_text(json.dumps(r))
    return folder


def report(tmp_path: Path, *folders: Path, grid: str = TINY_GRID):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "tiny.toml").write_text(grid)
    args = ["report", *(a for f in folders for a in ("--results", str(f))), "--out", str(tmp_path / "out"),
            "--perf", str(tmp_path / "no-perf"), "--grid", str(tmp_path / "tiny.toml")]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    return out, {p.name: p.read_text() for p in (tmp_path / "out").iterdir() if p.suffix in (".md", ".csv")}


@pytest.mark.parametrize(("path", "value", "labels"), [
    ("victim.params.weights_sha256", RETRAINED, ("victim.params.weights_sha256=0117…",
                                                 "victim.params.weights_sha256=5a2c…")),
    ("data.subset.n", 40, ("data.subset.n=20", "data.subset.n=40")),
    ("data.identity", {"split_hash": "ab12" + "d" * 60}, ("data.identity.split_hash=—",
                                                          "data.identity.split_hash=ab12…")),
])
def test_two_configurations_are_two_rows_and_two_checks_never_their_average(tmp_path: Path, path: str, value: Any,
                                                                             labels: tuple[str, str]):
    """Undefended PGD-10 of the shipped victim (0.0) and of another configuration (3.0): the mix would be
    one row of 1.5 ± 1.7 and a passing "≤ 2%" check."""
    one = [record(seed, 0.0) for seed in (0, 1)]
    other = [record(seed, 3.0, {path: value}) for seed in (0, 1)]
    out, files = report(tmp_path, write(tmp_path / "runs", one + other))
    rows = [line for line in files["report.md"].splitlines() if line.startswith("| none")]
    assert len(rows) == 2 * 2  # two rows in each protocol's table
    assert any(labels[0] in r and "| 0.0 ± 0.0" in r for r in rows), rows
    assert any(labels[1] in r and "| 3.0 ± 0.0" in r for r in rows), rows
    assert "1.5" not in files["report.md"] and "1.5" not in files["report.csv"]
    table = pd.read_csv(tmp_path / "out" / "report.csv")
    final = table[table["protocol"] == "final@1"]
    assert sorted(final["PGD-10 L∞ ε=0.002"]) == ["0.0 ± 0.0", "3.0 ± 0.0"]
    assert sorted(final["differs"]) == sorted(labels)
    assert pd.read_csv(tmp_path / "out" / "cells.csv")["config_id"].nunique() == 2
    assert f"| undefended control ≤ 2% under PGD-10 | warn | resnext29 linf [{labels[1]}]: 3.0 |" in files["index.md"]


def test_sanity_checks_judge_each_configuration():
    other = {"victim.params.weights_sha256": RETRAINED}
    control = [record(s, 0.0) for s in (0, 1)] + [record(s, 3.0, other) for s in (0, 1)]
    checks = {c.name: c for c in sanity_checks(control)}
    assert checks["undefended control ≤ 2% under PGD-10"].status == "warn"
    big = {"eps": 0.05, "attack.params.eps": 0.05, "defense.name": "diffnoise"}
    large = [record(s, 0.0, big) for s in (0, 1)] + [record(s, 15.0, {**big, **other}) for s in (0, 1)]
    check = {c.name: c for c in sanity_checks(control + large)}["large-ε PGD (≥ 10× the paper's ε) drives every "
                                                                 "defense to ≤ 10%"]
    assert check.status == "warn" and "diffnoise [victim.params.weights_sha256=5a2c…]: 15.0" in check.detail
    # PGD-10 at 10% beside a PGD-10 scored inside another run at 50% must not hide PGD-20 at 40%
    steps = ([record(s, 10.0) for s in (0, 1)] + [record(s, 50.0, {"score_at": [5]}) for s in (0, 1)]
             + [record(s, 40.0, {"steps": 20, "attack.params.steps": 20}) for s in (0, 1)])
    check = {c.name: c for c in sanity_checks(steps)}["robust accuracy non-increasing in steps (within binomial noise)"]
    assert check.status == "warn" and "10.0→40.0 at steps 10→20" in check.detail


def tiny_record(folder: Path, seed: int, robust: float, weights: str) -> dict[str, Any]:
    """A record that fits the tiny grid's undefended cell for ``seed`` (PGD-2 scored at step 1)."""
    (folder / "tiny.toml").write_text(TINY_GRID)
    run = expand(load_grid(folder / "tiny.toml"), "quick", folder)[0]
    spec = cell_spec(plan(run.config).spec, seed, {  # what the run derives: the grid does not pin it
        ("victim", "params", "weights_sha256"): weights, ("data", "subset", "hash"): SPEC["data"]["subset"]["hash"],
        ("gradient_mode",): "exact"})
    return record(seed, robust, spec=spec, scored_steps=[{"step": 1, "label": "PGD-1 L∞ ε=0.002",
                                                         "protocols": {"final@1": robust, "any_iter": robust}}])


def test_grid_cell_fitted_by_two_configurations_shows_conflict_not_a_mix(tmp_path: Path):
    """Seed 0 by the shipped victim (0%), seed 1 by a retrained one (50%): the grid pins neither weights hash;
    picking per seed would have printed 25.0 ± 35.4 with no note."""
    runs = write(tmp_path / "runs", [tiny_record(tmp_path, 0, 0.0, SHIPPED), tiny_record(tmp_path, 1, 50.0, RETRAINED)])
    _, files = report(tmp_path, runs)
    table = files["tiny-quick.md"]
    assert "| None | conflict | conflict | conflict | conflict |" in table and "25.0" not in table
    assert "0 of 4 cells found (quick profile, 2 seeds each); 2 left out" in table
    assert "records of 2 configurations fit, left out: victim.params.weights_sha256=0117… (1 seed(s)); " \
           "victim.params.weights_sha256=5a2c… (1 seed(s))" in table
    one = write(tmp_path / "one", [tiny_record(tmp_path, 0, 0.0, SHIPPED), tiny_record(tmp_path, 1, 50.0, SHIPPED)])
    _, files = report(tmp_path / "b", one)
    assert "| None | 100.0 ± 0.0 | 100.0 ± 0.0 | 25.0 ± 35.4 | 25.0 ± 35.4 |" in files["tiny-quick.md"]


def test_report_reads_every_results_folder_and_counts_a_cell_once(tmp_path: Path):
    a = write(tmp_path / "a", [record(s, 0.0) for s in (0, 1)])
    diffnoise = [record(s, 80.0, {"defense.name": "diffnoise"}) for s in (0, 1)]
    b = write(tmp_path / "b", [*diffnoise, record(0, 0.0)])  # the undefended seed 0 again
    out, files = report(tmp_path, a, b)
    assert f"read records from {a}, {b}" in out.stdout
    assert f"4 cells from `{a}`, `{b}`." in files["report.md"]
    assert f"4 cell records from `{a}`, `{b}`," in files["index.md"]
    assert "1 record(s) found more than once (the same cell in two folders) were counted once" in files["index.md"]
    rows = [line for line in files["report.md"].splitlines() if line.startswith(("| none", "| diffnoise"))]
    assert len(rows) == 2 * 2 and "| none " in rows[0] and "| 0.0 ± 0.0" in rows[0]


def test_report_warns_about_unreadable_records_and_skips_failed_cells(tmp_path: Path):
    good = [record(s, 0.0) for s in (0, 1)]
    runs = write(tmp_path / "runs", good)
    text = json.dumps(record(2, 0.0))
    (runs / "truncated.json").write_text(text[: len(text) // 2])
    (runs / "old.json").write_text(json.dumps({**record(3, 0.0), "schema": SCHEMA - 1}))
    edited = record(4, 0.0)
    edited["spec"]["eps"] = 0.004  # changed after its id was computed
    (runs / f"{edited['cell_id']}.json").write_text(json.dumps(edited))
    (runs / "0123456789abcdef.failed.json").write_text(json.dumps({"cell_id": "0123456789abcdef", "error": "boom"}))
    out, files = report(tmp_path, runs)
    assert out.stderr.startswith("warning: skipped 3 unreadable record(s): ") and out.stderr.count("\n") == 1
    for name, why in ((f"{edited['cell_id']}.json", "cell_id does not match its spec"),
                      ("old.json", f"schema {SCHEMA - 1}, not {SCHEMA}"), ("truncated.json", "not valid JSON")):
        assert f"{runs / name} ({why}" in out.stderr and f"- `{runs / name}`: {why}" in files["index.md"]
    assert "**Warning: 3 file(s) that are not usable records were skipped**" in files["index.md"]
    assert "1 failed cell(s) (`*.failed.json`, no result) are not in the tables: `0123456789abcdef.failed.json`" \
        in files["index.md"]
    assert "2 cells from" in files["report.md"] and "failed.json" not in out.stderr
    # `bench run` still treats a partial record as not finished, silently: it recomputes the cell
    assert read_record(runs / "truncated.json") is None and len(list(iter_records(runs))) == 2


def test_configuration_keys_and_labels_are_generic_and_deterministic():
    a, b = copy.deepcopy(SPEC), copy.deepcopy(SPEC)
    b["seed"] = 7
    assert config_key(a) == config_key(b)
    b["data"]["identity"] = {"split_hash": "ff"}  # a key the report has never heard of still separates
    assert config_key(a) != config_key(b)
    specs = {"x": {"h": "0117a" + "0" * 59, "n": 20}, "y": {"h": "0117b" + "0" * 59, "n": 20}, "z": {"n": 40}}
    assert suffixes(specs) == {"x": " [h=0117a…, n=20]", "y": " [h=0117b…, n=20]", "z": " [h=—, n=40]"}
    assert suffixes({"x": {"n": 1}, "y": {"n": 1}}) == {"x": "", "y": ""}


def test_migrate_rewrites_schema_3_records_with_their_numbers_and_reports_read_them(tmp_path: Path):
    from bench.migrate import migrate_folder
    from bench.results import problem

    old_spec = {k: v for k, v in copy.deepcopy(SPEC).items() if k != "draws"}
    old_spec.update(schema=3, protocols={"draws": 10, "vote": 10})
    old_spec["data"]["params"] = {"clips_per_voice": 4, "seed": 0, "voices": None}  # before peak_min/peak_max
    old = {**record(0, 30.0), "schema": 3, "spec": old_spec, "cell_id": cell_id(old_spec),
           "checkpoints": [{"step": 1, "label": "PGD-1", "protocols": {"final@1": 60.0, "any_iter": 55.0}}]}
    del old["config_id"], old["scored_steps"]
    runs = write(tmp_path / "runs", [old])
    (runs / "notes.json").write_text("{}")
    assert problem(old, old["cell_id"]).startswith("schema 3, not 4: rewrite it with `bench migrate")
    done = migrate_folder(runs)
    assert len(done.migrated) == 1 and done.current == 0 and [p.name for p, _ in done.skipped] == ["notes.json"]
    new = json.loads(done.migrated[0][1].read_text())
    assert problem(new, done.migrated[0][1].stem) is None and not (runs / f"{old['cell_id']}.json").exists()
    assert new["spec"]["draws"] == 10 and "protocols" not in new["spec"] and new["migrated_from"]["schema"] == 3
    assert new["spec"]["data"]["params"]["peak_min"] == 0.06 and new["scored_steps"][0]["protocols"]["final@1"] == 60
    assert {k: new[k] for k in ("protocols", "per_sample", "robust_acc")} == \
        {k: old[k] for k in ("protocols", "per_sample", "robust_acc")}
    assert migrate_folder(runs).current == 1  # idempotent
    _, files = report(tmp_path, runs)
    assert re.search(r"\| none +\| +100 +\| +30 +\|", files["report.md"])  # the number it was run with
