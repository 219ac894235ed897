"""``bench report``: the paper's tables and figures, sanity checks and findings from records; never re-runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.protocols import parse_protocol
from bench.report import write_report

DEFAULT_RESULTS = Path("results/runs")


@one_line_errors
def report_command(
    results: Annotated[list[Path] | None, typer.Option(
        help="Folder searched recursively for cell records; repeatable (a cell in two folders counts once). "
             f"[default: {DEFAULT_RESULTS}]")] = None,
    out: Annotated[Path, typer.Option(help="Folder for index.md and every table and figure.")] = Path("results/report"),
    perf: Annotated[Path, typer.Option(help="Folder of `bench perf` records (Table 4, finding (d)).")] = Path(
        "results/perf"),
    grid: Annotated[list[str] | None, typer.Option(
        help="Grid(s) to lay out: a name or a .toml path; repeatable. [default: every shipped grid]")] = None,
    protocols: Annotated[str | None, typer.Option(
        help="Protocols of the generic tables, scored from the records' stored draws, e.g. final@1,vote@5,worst@20 "
             "(see `bench list protocols`). [default: each record's final@1, vote@N, avg@N, worst@N, "
             "any_iter]")] = None,
) -> None:
    """Write per artefact Markdown, CSV, LaTeX (and PNG for figures) beside the paper's numbers, Table 4,
    generic tables of every record, and index.md with the sanity checks and the paper's findings."""
    folders = results or [DEFAULT_RESULTS]  # a list option: typer would otherwise keep only the last --results
    wanted = [parse_protocol(p).name for p in protocols.split(",") if p.strip()] if protocols else None
    written = write_report(folders, out, grids=grid or None, perf=perf,
                           warn=lambda line: typer.echo(f"warning: {line}", err=True), protocols=wanted)
    typer.echo(f"read records from {', '.join(map(str, folders))}")
    typer.echo(f"wrote {len(written)} files to {out}/ (start at {out / 'index.md'})")
