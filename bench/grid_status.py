"""Which cells of a grid a results folder already holds, without running any.

A cell's id hashes its full spec, which includes what only the data and the models give (the split's and the
subset's hashes, the weights' hashes); so each configuration is set up as ``bench run`` sets it up (data built
if missing, models loaded, the evaluation subset picked) and its cells' ids computed, then looked up in the
folder. ``bench run --grid G --check`` prints it; the reference results' test asks it of every shipped grid.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from bench.grid import GridRun
from bench.results import cell_id, record_path
from bench.runner import Run


@dataclass(frozen=True)
class CellStatus:
    run: GridRun
    seed: int
    cell_id: str
    done: bool


def grid_status(runs: list[GridRun], results: Path) -> list[CellStatus]:
    """Every cell of ``runs`` with its id and whether ``results`` holds its record."""
    out = []
    with tempfile.TemporaryDirectory() as scratch:  # Run probes its results folder: never the one checked
        for run in runs:
            setup = Run(replace(run.config, results=Path(scratch), progress=False), log=lambda _: None)
            for seed in run.config.seeds:
                cid = cell_id(setup.spec(seed))
                out.append(CellStatus(run, seed, cid, record_path(results, cid).is_file()))
    return out
