"""The committed reference results: `bench report` on the committed records regenerates them exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app

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
