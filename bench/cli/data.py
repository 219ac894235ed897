"""``bench data``: build or check datasets in the cache ($SCRBENCH_HOME)."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.errors import BadParameter
from bench.params import parse_assignments, signature_params
from bench.registry import REGISTRY

app = typer.Typer(help="Prepare datasets.", no_args_is_help=True)


@app.command("prepare")
@one_line_errors
def prepare_command(
    name: Annotated[str, typer.Argument(help="Dataset plugin, e.g. synth-digits or sc09.")],
    download: Annotated[bool, typer.Option(help="Fetch the data (datasets that can, e.g. sc09).")] = False,
    option: Annotated[list[str] | None, typer.Option("-o", "--option", help="Dataset parameter key=value.")] = None,
) -> None:
    """Build the dataset (or check it) so that runs can use it; shows a progress bar."""
    overrides = dict(parse_assignments(option or []))
    if download:
        if "download" not in signature_params(REGISTRY.get("dataset", name).factory):
            raise BadParameter(f"dataset {name!r} has nothing to download; drop --download")
        overrides["download"] = "true"
    dataset, params = REGISTRY.create("dataset", name, overrides)
    dataset.prepare(progress=True)
    sizes = ", ".join(f"{s} {len(dataset.load(s))}" for s in dataset.splits)
    typer.echo(f"{name} ready: {sizes} clips")
    built = dataset.provenance()
    if built.get("content_hash"):
        match = {True: "equals the reference build's", False: f"differs from the reference build's "
                 f"{built['reference_hash']}", None: "no reference build for these parameters"}
        typer.echo(f"content hash {built['content_hash']} ({match[built['matches_reference']]})")
    warning = dataset.not_reference()
    if warning:
        typer.echo(f"warning: {warning}", err=True)
