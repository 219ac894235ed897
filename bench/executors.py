"""Running cells: here (one worker), in local worker processes, or as Ray tasks on a local or joined cluster.

A cell is one seed of one ``RunConfig``; running it is ``Run(config).run_cell(seed)``, which skips a cell
whose record exists and writes a finished one atomically, so any executor can be killed at any point and
the same command finishes the grid without redoing or duplicating a cell. Each worker process keeps the
``Run`` (data, victim, defense, subset) of the configurations it last ran, since cells of one
configuration share them. Every worker runs ``threads`` torch threads, the same in every executor, so the
same cell gives the same record whoever runs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import torch

from bench.errors import BadParameter, BenchError
from bench.runner import Run
from bench.spec import RunConfig

EXECUTORS = ("local", "ray")
ENV_KEYS = ("SCRBENCH_HOME", "SCRBENCH_DISABLE_PLUGIN_AUTOLOAD", "SCRBENCH_DEBUG")
_RUNS: OrderedDict[str, Run] = OrderedDict()
_KEEP_RUNS = 2


@dataclass(frozen=True)
class Cell:
    config: RunConfig
    seed: int


def cells_of(configs: list[RunConfig]) -> list[Cell]:
    """Every (configuration, seed), configuration-major, so a worker's cached setup serves the next cell."""
    return [Cell(c, s) for c in configs for s in c.seeds]


def _key(config: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(dataclasses.replace(config, seeds=[], progress=False)), sort_keys=True,
                      default=str)


def _run_for(config: RunConfig) -> Run:
    key = _key(config)
    if key not in _RUNS:
        _RUNS[key] = Run(dataclasses.replace(config, progress=False), log=lambda _: None)
        while len(_RUNS) > _KEEP_RUNS:
            _RUNS.popitem(last=False)
    _RUNS.move_to_end(key)
    return _RUNS[key]


def setup_worker(threads: int | None, env: dict[str, str]) -> None:
    os.environ.update(env)
    if threads:
        torch.set_num_threads(threads)


def run_cell_task(cell: Cell, threads: int | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or skip) one cell in this process; a ``BenchError`` comes back as its one line, not raised."""
    setup_worker(threads, env or {})
    started = time.perf_counter()
    try:
        run = _run_for(cell.config)
        result = run.run_cell(cell.seed)
    except BenchError as exc:
        return {"seed": cell.seed, "error": str(exc), "what": f"{cell.config.defense} × {cell.config.attack}"}
    r = result.record
    return {"seed": cell.seed, "cell_id": r["cell_id"], "skipped": result.skipped, "error": None,
            "what": f"{r['labels']['defense']} × {r['labels']['attack']} on {r['spec']['victim']['name']}",
            "robust": r["robust_acc"], "clean": r["clean_acc"], "seconds": round(time.perf_counter() - started, 1),
            "at": {c["step"]: c["protocols"]["final@1"] for c in r.get("scored_steps", [])},
            "not_reference": r.get("data_provenance", {}).get("not_reference")}


def _env() -> dict[str, str]:
    return {k: os.environ[k] for k in ENV_KEYS if k in os.environ}


def _local(cells: list[Cell], workers: int, threads: int | None) -> Iterator[dict[str, Any]]:
    if workers == 1:  # in this process: its thread count is the caller's again afterwards
        previous = torch.get_num_threads()
        try:
            for cell in cells:
                yield run_cell_task(cell, threads)
        finally:
            torch.set_num_threads(previous)
        return
    # spawn, not fork: torch's thread pools do not survive a fork
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=setup_worker,
                             initargs=(threads, _env())) as pool:
        futures = [pool.submit(run_cell_task, cell, threads) for cell in cells]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ray(cells: list[Cell], workers: int, threads: int | None, address: str | None,
         gpus_per_cell: float | None) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise BadParameter("--executor ray needs Ray: pip install 'scrbench[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        task = ray.remote(run_cell_task)
        cpus = threads or 1
        pending = []
        for cell in cells:
            # a GPU cell gets a GPU: `--gpus-per-cell` (fractions pack several cells on one), else a whole one
            # where the cluster has GPUs and the cell may use one; Ray hides GPUs from tasks that ask none
            wants = cell.config.device != "cpu" and cluster_gpus > 0
            gpus = gpus_per_cell if gpus_per_cell is not None else (1.0 if wants else 0.0)
            pending.append(task.options(num_cpus=cpus, num_gpus=gpus).remote(cell, threads, _env()))
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


def execute(cells: list[Cell], executor: str = "local", workers: int = 1, threads: int | None = None,
            address: str | None = None, gpus_per_cell: float | None = None,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every cell with ``executor``; log one line per finished cell; return their outcomes (in
    completion order). Cells that fail with a ``BenchError`` are reported, the others still run."""
    if executor not in EXECUTORS:
        raise BadParameter(f"--executor {executor!r}: valid: {', '.join(EXECUTORS)}")
    if workers < 1 or (threads is not None and threads < 1):
        raise BadParameter("--workers and --threads must be at least 1")
    if address and executor != "ray":
        raise BadParameter("--address joins a Ray cluster; use it with --executor ray")
    stream = _local(cells, workers, threads) if executor == "local" else \
        _ray(cells, workers, threads, address, gpus_per_cell)
    outcomes, warned = [], set()
    for i, out in enumerate(stream, 1):
        outcomes.append(out)
        if out.get("not_reference") and out["not_reference"] not in warned:  # once per grid, not per cell
            warned.add(out["not_reference"])
            log(f"warning: {out['not_reference']}")
        head = f"[{i}/{len(cells)}] {out['what']} seed {out['seed']}"
        if out["error"]:
            log(f"{head}: FAILED: {out['error']}")
            continue
        at = "".join(f" @{k} {v:.1f}" for k, v in sorted(out["at"].items()))
        status = "already done" if out["skipped"] else f"{out['seconds']:.1f} s"
        log(f"{head}: clean {out['clean']:.1f} robust {out['robust']:.1f}{at} [{out['cell_id']}] {status}")
    return outcomes
