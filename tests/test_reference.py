"""The committed reference results: `bench report` on the committed records regenerates them exactly, and a
fresh machine's quick-profile grid runs find their cells among the committed records."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.grid import expand, grid_names, load_grid
from bench.grid_status import grid_status

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path("results/reference")  # relative, as the README's command: the index names its inputs
INPUTS = {"records", "perf", "README.md"}  # what the report reads, and the commands and hardware


def test_reference_report_regenerates_from_the_committed_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Tables (Markdown, CSV, LaTeX) and index byte-identical; figures: the same set of PNGs (their bytes depend
    on the installed matplotlib's renderer, so they are checked by hand when the report is regenerated)."""
    monkeypatch.chdir(ROOT)
    committed = {p.name for p in REFERENCE.iterdir() if p.name not in INPUTS}
    assert "index.md" in committed and any(REFERENCE.joinpath("records").glob("*.json"))
    out = CliRunner().invoke(app, ["report", "--results", str(REFERENCE / "records"), "--perf",
                                   str(REFERENCE / "perf"), "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    regenerated = {p.name for p in tmp_path.iterdir()}
    assert regenerated == committed
    for name in sorted(regenerated):
        fresh, kept = (tmp_path / name).read_bytes(), (REFERENCE / name).read_bytes()
        if name.endswith(".png"):
            assert fresh.startswith(b"\x89PNG") and kept.startswith(b"\x89PNG"), name
        else:
            assert fresh == kept, f"{name} differs: rerun the README's `bench report` command in {REFERENCE}"


# Grids whose quick-profile records are not all regenerated on the pinned data build yet: the DiffWave
# defenses' adaptive cells are GPU jobs (results/reference/README.md gives each grid's measured cost and what
# remains). Strict: a grid completed and still listed here fails, so the list shrinks as
# records land.
NOT_REGENERATED = {
    "adaptive": "DDPM, DiffRev, One-shot and AudioPure under the adaptive suite are GPU jobs",
}


def _grid_param(name: str):
    if name in NOT_REGENERATED:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=NOT_REGENERATED[name]))
    return name


@pytest.mark.slow
@pytest.mark.parametrize("name", [_grid_param(name) for name in grid_names()])
def test_every_quick_cell_of_the_grid_is_in_the_reference_records(name: str, default_data, monkeypatch):
    """A user who runs ``bench run --grid NAME --profile quick`` into a copy of the reference records finds
    every cell done: each cell's id, computed on the default data built here, names a committed record."""
    monkeypatch.chdir(ROOT)
    runs = expand(load_grid(name), "quick", REFERENCE / "records")
    missing = [c for c in grid_status(runs, REFERENCE / "records") if not c.done]
    assert not missing, (f"{len(missing)} cells of grid {name} are not in {REFERENCE / 'records'}; first: run "
                         f"{missing[0].run.index} seed {missing[0].seed} [{missing[0].cell_id}]")
