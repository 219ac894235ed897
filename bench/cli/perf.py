"""``bench perf``: per-clip cost of each defense (Table 4), printed and written as records; ``--cell``: where
one seed of the main job spends its time."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import int_list, one_line_errors
from bench.errors import BadParameter
from bench.params import parse_assignments
from bench.perf import run_perf

SPLIT_ORDER = ("attack", "tracking", "scoring", "checks", "clean")  # a cell record's ``seconds``, in run order


def _names(text: str | None) -> list[str]:
    return [d.strip() for d in (text or "").split(",") if d.strip()]


def cell_seconds(defense: str = "none", n: int = 100, steps: int = 10, device: str = "auto",
                 options: list[tuple[str, str]] | None = None, log: Callable[[str], None] = print) -> dict[str, float]:
    """Run one seed of the README's main job (``bench run --defense DEFENSE --attack pgd --steps STEPS``, ``n``
    clips, ``options`` as ``-o key=value``) into a temporary results folder and return its record's
    ``seconds``: wall seconds of the cell's parts (those the runner records: attack, iterate tracking,
    scoring, checks, clean evaluation) and total."""
    from bench.runner import run  # the whole evaluation stack: only for --cell
    from bench.spec import RunConfig

    with tempfile.TemporaryDirectory(prefix="bench-perf-cell-") as folder:
        config = RunConfig(defense=defense, attack="pgd", attack_options={"steps": steps}, n=n, seeds=[0],
                           options=list(options or []), device=device, results=Path(folder), progress=False)
        cells = run(config, log=log)
    return dict(cells[0].record["seconds"])


def seconds_split(seconds: Mapping[str, float]) -> list[tuple[str, float, float]]:
    """(part, seconds, share of total in %) for each numeric part of a record's ``seconds``, then ``other``
    (total minus the parts: setup, batching, whatever no part times) and ``total``."""
    parts = {k: float(v) for k, v in seconds.items() if k != "total" and isinstance(v, int | float)}
    names = [k for k in SPLIT_ORDER if k in parts] + sorted(set(parts) - set(SPLIT_ORDER))
    total = float(seconds.get("total", sum(parts.values())))
    other = max(total - sum(parts.values()), 0.0)  # each part is rounded to the millisecond: never below zero
    rows = [(k, parts[k]) for k in names] + [("other", other), ("total", total)]
    return [(k, v, 100.0 * v / total if total > 0 else 0.0) for k, v in rows]


@one_line_errors
def perf_command(
    defenses: Annotated[str | None, typer.Option(
        help="Defenses to time, comma separated (see `bench list defenses`). [default: every registered one]")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma separated: seconds per clip at each.")] = "1,16",
    repeats: Annotated[int, typer.Option(help="Timed calls per batch size (after 2 warm-up calls).")] = 10,
    device: Annotated[str, typer.Option(
        help="auto, cpu, cuda or cuda:N; comma separated for several (cpu,cuda).")] = "auto",
    config: Annotated[str, typer.Option(
        help="Network sizes, comma separated: slim (shipped trained networks), paper (published sizes; random "
             "weights, for timing only, where no trained ones exist).")] = "slim",
    modes: Annotated[str, typer.Option(
        help="Execution, comma separated: eager, compiled (torch.compile of the networks; CUDA graphs on CUDA).")
    ] = "eager",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads (default: torch's).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the perf records (read by `bench report --perf`).")] = Path(
        "results/perf"),
    cell: Annotated[bool, typer.Option(
        help="Instead: run one seed of `bench run --attack pgd` in a temporary folder and print its seconds split.")
    ] = False,
    cell_defense: Annotated[str, typer.Option(help="With --cell: the defense.")] = "none",
    n: Annotated[int | None, typer.Option(help="With --cell: clips. [default: 100]")] = None,
    steps: Annotated[int | None, typer.Option(help="With --cell: PGD steps. [default: 10]")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "-o", "--option", help="With --cell: a plugin parameter key=value, as `bench run -o`; repeatable.")] = None,
) -> None:
    """Time each defense per clip: purification (wave purifier, mel frontend, mel purifier), an attack step
    (forward + backward through the defended model) and their peak memory, warm-up excluded and the device
    synchronised; print them and write one record per defense, device, batch size, configuration and mode."""
    if threads is not None and threads < 1:
        raise BadParameter("--threads must be at least 1")
    if cell:
        for flag, value in (("--n", n), ("--steps", steps)):
            if value is not None and value < 1:
                raise BadParameter(f"{flag} {value}: must be at least 1")
        if threads:
            import torch

            torch.set_num_threads(threads)
        n, steps = n or 100, steps or 10
        options = parse_assignments(option or [])
        split = seconds_split(cell_seconds(cell_defense, n, steps, device, options, log=typer.echo))
        typer.echo(f"{cell_defense} × PGD-{steps}, one seed, n={n}: where the cell's seconds went")
        for part, seconds, share in split:
            typer.echo(f"  {part:<10}{seconds:10.3f} s {share:6.1f} %")
        return
    if n is not None or steps is not None or cell_defense != "none" or option:
        raise BadParameter("--n, --steps, --cell-defense and -o apply to --cell; add --cell or drop them")
    records = run_perf(_names(defenses) or None, int_list(batch, "--batch", "whole numbers", "1,16"), repeats, device,
                       out, threads, log=typer.echo, configs=_names(config), modes=_names(modes))
    typer.echo(f"{len(records)} perf records in {out}/ (table4: bench report --perf {out})")
