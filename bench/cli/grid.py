"""``bench run --grid``: expand an experiment grid into cells and run them with an executor."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from tqdm import tqdm

from bench.errors import BenchError
from bench.executors import cells_of, execute
from bench.grid import GridRun, expand, load_grid
from bench.io import check_writable_folder


def run_grid(name: str, profile: str, results: Path, options: list[tuple[str, str]], n: int | None,
             seeds: int | None, device: str | None, executor: str, workers: int, threads: int | None,
             address: str | None, gpus_per_cell: float | None, dry_run: bool, progress: bool,
             check: bool = False) -> None:
    """Run (or list, with ``dry_run``; or, with ``check``, say which are done) every cell of grid ``name`` under
    ``profile``; finished cells are skipped, failed ones reported at the end as one line."""
    grid = load_grid(name)
    runs = expand(grid, profile, results, options, n=n, seeds=seeds, device=device, progress=progress)
    cells = cells_of([r.config for r in runs])
    if check:
        _check(grid.name, profile, runs, results)
        return
    if not dry_run:  # once, before any cell, rather than as every cell's failure after the work
        check_writable_folder(results, "--results")
    typer.echo(f"grid {grid.name} ({grid.title}), profile {profile}: {len(runs)} configurations, {len(cells)} cells "
               f"→ {results}/")
    if dry_run:
        for r in runs:
            c = r.config
            where = f"{r.row} / {', '.join(r.columns.values())}" if r.row else "(sanity checks only)"
            flags = " ".join(f"{k}={v}" for k, v in c.attack_options.items() if v is not None)
            opts = " ".join(f"-o {k}={v}" for k, v in c.options)
            score = f" score_at={','.join(map(str, c.score_at))}" if c.score_at else ""
            typer.echo(f"  run {r.index}: {c.defense} × {c.attack} on {c.victim} {flags}{score} {opts} "
                       f"n={'all' if c.n is None else c.n} seeds={len(c.seeds)}  → {where}")
        return
    if threads is None and executor == "local":
        threads = max(1, (os.cpu_count() or 1) // workers)
    started = time.perf_counter()
    outcomes = execute(cells, executor, workers, threads, address, gpus_per_cell, log=tqdm.write)
    failed = [o for o in outcomes if o["error"]]
    done = sum(1 for o in outcomes if not o["error"] and not o["skipped"])
    skipped = sum(1 for o in outcomes if not o["error"] and o["skipped"])
    typer.echo(f"grid {grid.name}/{profile}: {done} cells run, {skipped} already done, {len(failed)} failed "
               f"({time.perf_counter() - started:.1f} s); tables: bench report --results {results}")
    if failed:
        raise BenchError(f"{len(failed)} of {len(cells)} cells failed; first: {failed[0]['what']} seed "
                         f"{failed[0]['seed']}: {failed[0]['error']}")


def _check(name: str, profile: str, runs: list[GridRun], results: Path) -> None:
    """Each run's cells done in ``results`` and the ids of those that are not; exit status 1 if any is missing."""
    from bench.grid_status import grid_status

    cells = grid_status(runs, results)
    missing = [c for c in cells if not c.done]
    typer.echo(f"grid {name}, profile {profile}: {len(cells) - len(missing)} of {len(cells)} cells done in {results}/")
    for run in runs:
        mine = [c for c in cells if c.run is run]
        absent = [c for c in mine if not c.done]
        if absent:
            where = f"{run.row} / {', '.join(run.columns.values())}" if run.row else "(sanity checks only)"
            seeds = ", ".join(f"seed {c.seed} [{c.cell_id}]" for c in absent)
            typer.echo(f"  run {run.index}: {run.config.defense} × {run.config.attack} → {where}: "
                       f"{len(mine) - len(absent)} of {len(mine)} done; to run: {seeds}")
    if missing:
        raise typer.Exit(1)
