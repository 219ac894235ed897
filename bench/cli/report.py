"""``bench report``: tables from result records, never re-running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.report import write_report


@one_line_errors
def report_command(
    results: Annotated[Path, typer.Option(help="Folder searched recursively for records.")] = Path("results/runs"),
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.csv and cells.csv.")] = Path("results/report"),
) -> None:
    """Summarise every record: rows defense, columns attack, cells mean ± std over seeds."""
    for path in write_report(results, out):
        typer.echo(f"wrote {path}")
