"""``bench migrate``: rewrite records of an older schema into the current one, in place."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.errors import BadParameter
from bench.migrate import migrate_folder


@one_line_errors
def migrate_command(
    results: Annotated[list[Path], typer.Argument(help="Folders searched recursively for records.")],
) -> None:
    """Rewrite schema-3 records as schema 4 (new cell ids, same numbers); current records are left alone."""
    for folder in results:
        if not folder.is_dir():
            raise BadParameter(f"{folder} is not a folder; pass the folder that holds the records")
        done = migrate_folder(folder)
        typer.echo(f"{folder}: {len(done.migrated)} record(s) migrated, {done.current} already current, "
                   f"{len(done.skipped)} file(s) left alone")
        for path, why in done.skipped:
            typer.echo(f"  left alone: {path} ({why})", err=True)
