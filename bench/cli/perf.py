"""``bench perf``: purification seconds per clip for each defense (Table 4), printed and written as records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import int_list, one_line_errors
from bench.errors import BadParameter
from bench.perf import run_perf


@one_line_errors
def perf_command(
    defenses: Annotated[str | None, typer.Option(
        help="Defenses to time, comma separated (see `bench list defenses`). [default: every registered one]")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma separated: seconds per clip at each.")] = "1,16",
    repeats: Annotated[int, typer.Option(help="Timed calls per batch size (after 2 warm-up calls).")] = 10,
    device: Annotated[str, typer.Option(
        help="auto, cpu, cuda or cuda:N; comma separated for several (cpu,cuda).")] = "auto",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads (default: torch's).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the perf records (read by `bench report --perf`).")] = Path(
        "results/perf"),
) -> None:
    """Time each defense's purification (wave purifier, mel frontend, mel purifier), warm-up excluded and
    the device synchronised; print seconds per clip and write one record per defense and batch size."""
    names = [d.strip() for d in defenses.split(",") if d.strip()] if defenses else None
    if threads is not None and threads < 1:
        raise BadParameter("--threads must be at least 1")
    records = run_perf(names, int_list(batch, "--batch", "whole numbers", "1,16"), repeats, device, out, threads, log=typer.echo)
    typer.echo(f"{len(records)} perf records in {out}/ (table4: bench report --perf {out})")
