"""The paper's artefacts from records: each grid's cells matched to records (``bench.report.layout`` lays them out).

A grid says which cells an artefact needs (``bench.grid.expand``); each cell's configuration is planned by
the function ``bench run`` uses (``bench.spec.plan``) and its records are those holding its ``config_id``
and seed: exact matching, without running anything or loading data. A cell never run is shown as missing; a
cell run under fewer seeds than the profile asks says so. The records of one grid run must be of one
configuration (``bench.report.configs``: the spec without its seed): where records of two configurations fit
it (an older run with other victim weights, say: a grid does not pin derived values such as weight hashes),
neither is shown. The cell reads ``conflict`` and the notes name what differs, since which one the artefact
means cannot be told from the grid, and averaging them or keeping the newest would show a number nobody ran.
Each table cell takes its values from one run: a clean column that several runs of a row fill reads the run
with the most seeds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.grid import Grid, GridRun, expand
from bench.protocols import ANY_ITER, HEADLINE
from bench.report.configs import bare, config_key, config_spec, suffixes
from bench.report.scores import per_clip, record_scores
from bench.spec import plan

CONFLICT = "conflict"  # a cell records of two configurations fit: neither shown (the notes say what differs)
CLEAN = "clean"  # the pseudo-protocol of clean-accuracy columns: the same in every protocol's table
PROTOCOLS = (HEADLINE, ANY_ITER)


@dataclass
class Value:
    row: str
    column: str
    protocol: str
    seed: int
    value: float
    n: int
    defense: str  # the record's labels, for the notes
    attack: str
    cost: dict[str, float | None] = field(default_factory=dict)  # per clip: gradients, queries, seconds, memory
    clips: tuple[float, ...] | None = None  # per-clip scores (robust under the protocol, or clean): intervals
    subset: str | None = None  # the evaluation subset's hash: two cells are paired only over the same clips


@dataclass
class Artefact:
    grid: Grid
    profile: str
    seeds: int  # seeds the profile asks for
    values: list[Value] = field(default_factory=list)
    cells: int = 0  # cells the grid asks for under this profile
    found: int = 0  # of which a record was found
    conflicts: set[tuple[str, str]] = field(default_factory=set)  # (row, column) left out: two configurations fit
    conflicted: int = 0  # cells left out because records of two configurations fit their run
    seconds: float = 0.0  # the found cells' own run time (sum of their records' seconds.total)
    problems: list[str] = field(default_factory=list)

    def get(self, row: str, column: str, protocol: str) -> list[Value]:
        wanted = (CLEAN,) if self.is_clean(column) else (protocol,)
        return [v for v in self.values if v.row == row and v.column == column and v.protocol in wanted]

    def is_clean(self, column: str) -> bool:
        return any(v.column == column and v.protocol == CLEAN for v in self.values) or column.startswith("Clean")

    def rows(self) -> list[str]:
        extra = sorted({v.row for v in self.values} - set(self.grid.rows))
        return [*self.grid.rows, *extra]

    def columns(self) -> list[str]:
        extra = sorted({v.column for v in self.values} - set(self.grid.columns))
        return [*self.grid.columns, *extra]


def _index(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    index: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        index[(r["config_id"], r["spec"]["seed"])].append(r)
    return index


def protocols_of(grid: Grid) -> tuple[str, ...]:
    """The protocols a grid's tables show: its ``protocols`` list, else final@1 and the paper's any_iter."""
    return tuple(grid.extra.get("protocols", PROTOCOLS))


def attack_seconds(record: dict[str, Any]) -> float:
    """The seconds the record's attack took: those of the seed that computed it, for a record copied from
    another seed's (``bench.runner``: a cell in which nothing is random)."""
    seconds = record.get("seconds", {})
    return float(seconds.get("shared", {}).get("attack", seconds.get("attack", 0.0)))


def cost_of(record: dict[str, Any]) -> dict[str, float | None]:
    """What the record's attack cost per clip: gradients backpropagated through the defended model, queries,
    seconds of the attack, and the attack's peak memory (CUDA only; None elsewhere)."""
    n = max(int(record.get("n", 0)), 1)
    queries, memory = record.get("queries", {}), record.get("memory") or {}
    gradients = queries.get("gradients")
    peak = memory.get("per_clip_bytes")  # the peak is per batch: (peak − baseline) / clips per batch
    return {"gradients": None if gradients is None else gradients / n, "queries": queries.get("total", 0) / n,
            "seconds": attack_seconds(record) / n,
            "peak_mib": None if peak is None else peak / 2**20}


def _at(record: dict[str, Any], step: int,
        protocols: tuple[str, ...] = PROTOCOLS) -> tuple[dict[str, float | None], str, int | None] | None:
    """The table protocols' scores, the attack label and the scored step (None: the final examples) of the
    record's attack stopped at ``step`` (None: not scored)."""
    if step == int(record["spec"]["attack"]["params"].get("steps") or 0):
        return record_scores(record, protocols), record["labels"]["attack"], None
    for c in record.get("scored_steps", []):
        if c["step"] == step:
            return record_scores(record, protocols, step), c["label"], step
    return None


def _conflict(run: GridRun, by_config: dict[str, list[dict[str, Any]]]) -> str:
    """One line naming the configurations that fit one run and what differs between them."""
    named = suffixes({k: config_spec(rs[0]["spec"]) for k, rs in by_config.items()})
    configs = "; ".join(f"{bare(named[k])} ({len(rs)} seed(s))" for k, rs in sorted(by_config.items()))
    where = f"row {run.row}, columns {', '.join(run.columns.values())}" if run.row is not None else "no table cell"
    return (f"run {run.index} ({where}): records of {len(by_config)} configurations fit, left out: {configs}; "
            "report the folders apart or move the records you do not mean out")


def _clips(values: list[Any] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


def _entries(run: GridRun, record: dict[str, Any], protocols: tuple[str, ...] = PROTOCOLS
             ) -> list[tuple[str, str, float, str, tuple[float, ...] | None]]:
    """(column, protocol, value, attack label, per-clip scores or None) of one record of ``run``."""
    entries = []
    for step, column in run.columns.items():
        scored = _at(record, step, protocols)
        if scored is None:
            continue
        for p, v in scored[0].items():
            if v is not None:
                entries.append((column, p, v, scored[1], _clips(per_clip(record, p, scored[2]))))
    per_sample = record.get("per_sample", {})
    if run.clean_column:
        entries.append((run.clean_column, CLEAN, record["clean_acc"], "clean, defended",
                        _clips(per_sample.get("clean"))))
    if run.bare_column:
        entries.append((run.bare_column, CLEAN, record["clean_acc_victim"], "clean, bare victim",
                        _clips(per_sample.get("clean_victim"))))
    return entries


def collect(grid: Grid, profile: str, records: list[dict[str, Any]]) -> Artefact:
    """The values ``grid``'s ``profile`` needs, from ``records``."""
    runs = expand(grid, profile, Path("."))
    art = Artefact(grid, profile, len(runs[0].config.seeds) if runs else 0)
    index = _index(records)
    sources: dict[tuple[str, str, str], dict[int, list[Value]]] = defaultdict(lambda: defaultdict(list))
    for position, run in enumerate(runs):  # position: a [[run]] with lists expands to several runs
        c = run.config
        by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)  # configuration → its records, one a seed
        art.cells += len(c.seeds)
        try:
            wanted = plan(c).config_id
        except BenchError as exc:
            art.problems.append(f"run {run.index}: {exc}")
            continue
        for seed in c.seeds:
            for r in index.get((wanted, seed), []):
                by_config[config_key(r["spec"])].append(r)
        if len(by_config) > 1:  # never average two configurations, nor guess which one the grid means
            art.conflicted += len({r["spec"]["seed"] for rs in by_config.values() for r in rs})
            art.problems.append(_conflict(run, by_config))
            if run.row is not None:
                columns = [*run.columns.values(), *(col for col in (run.clean_column, run.bare_column) if col)]
                art.conflicts |= {(run.row, column) for column in columns}
            continue
        for record in next(iter(by_config.values()), []):
            art.found += 1
            art.seconds += float(record.get("seconds", {}).get("total", 0.0))
            if run.row is None:
                continue
            n, defense, seed = record["n"], record["labels"]["defense"], record["spec"]["seed"]
            cost = cost_of(record)
            subset = record.get("subset", {}).get("hash")
            for column, protocol, value, attack, clips in _entries(run, record, protocols_of(grid)):
                sources[(run.row, column, protocol)][position].append(
                    Value(run.row, column, protocol, seed, value, n, defense, attack,
                          cost if protocol != CLEAN else {}, clips, subset))
    shared = []
    for (row, column, protocol), by_run in sources.items():  # one run per table cell: the most seeds, then first
        values = max(by_run.values(), key=len)
        art.values += sorted(values, key=lambda v: v.seed)
        line = (f"row {row}, column {column}: filled by configurations of runs "
                f"{', '.join(str(runs[i].index) for i in by_run)}; shown: the one with the most seeds")
        if len(by_run) > 1 and protocol != CLEAN and line not in shared:  # every run of a row fills its clean columns
            shared.append(line)
    art.problems += shared
    return art


__all__ = ["Artefact", "CLEAN", "CONFLICT", "Value", "collect", "cost_of", "protocols_of"]
