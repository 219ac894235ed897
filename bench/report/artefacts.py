"""The paper's artefacts from records: each grid's cells matched to records, laid out as the paper's tables.

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
from bench.papers import paper_of
from bench.protocols import ANY_ITER, ANY_ITER_NOTE, HEADLINE
from bench.report.configs import bare, config_key, config_spec, suffixes
from bench.report.format import MISSING, csv_cell, fmt_cell, fmt_paper, latex_table, markdown_table
from bench.report.scores import per_clip, record_scores
from bench.spec import plan
from bench.stats import interval_or_none, mean_std

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


def table_rows(art: Artefact, protocol: str, with_paper: bool) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the artefact's table under ``protocol``; each cell ``mean [low, high] [paper]``
    (``mean ± std`` where the records hold no per-clip scores)."""
    header = [art.grid.extra.get("row_header", "Defense"), *art.columns()]
    rows = []
    for row in art.rows():
        cells = [row]
        for column in art.columns():
            found = art.get(row, column, protocol)
            values = [v.value for v in found]
            text = CONFLICT if not values and (row, column) in art.conflicts else fmt_cell(values, art.seeds)
            if values:
                text = _interval_cell(found, art.seeds) or text
            paper = _paper_value(art, row, column) if with_paper else None
            cells.append(text if paper is None else f"{text} [{fmt_paper(paper)}]")
        rows.append(cells)
    return header, rows


def spread(values: list[Value]) -> tuple[float, float, float, bool]:
    """Mean, low and high of one cell: its 95 % clip-bootstrap interval over clips and seeds (True), or, for
    records without per-clip scores (migrated ones), mean ± sample std over seeds (False)."""
    interval = interval_or_none([v.clips for v in values])
    if interval is not None:
        return (*interval, True)
    mean, std = mean_std([v.value for v in values])
    return mean, mean - std, mean + std, False


def _interval_cell(values: list[Value], expected: int) -> str | None:
    """``mean [low, high]``: the 95 % clip bootstrap over clips and seeds (None: per-clip scores missing)."""
    mean, low, high, is_interval = spread(values)
    if not is_interval:
        return None
    text = f"{mean:.1f} [{low:.1f}, {high:.1f}]"
    return text + (f" ({len(values)}/{expected} seeds)" if len(values) < expected else "")


def _paper_value(art: Artefact, row: str, column: str) -> float | None:
    paper = paper_of(art.grid.paper)
    return None if paper is None else paper.value(art.grid.artefact, row, column)


def _has_numbers(art: Artefact) -> bool:
    paper = paper_of(art.grid.paper)
    return paper is not None and bool(paper.numbers.get(art.grid.artefact))


def caption(art: Artefact, protocol: str) -> str:
    note = f" ({ANY_ITER_NOTE})" if protocol == ANY_ITER else ""
    paper = paper_of(art.grid.paper)
    paper_part = f"; [paper] = {paper.source}, its metric {paper.protocol}" if _has_numbers(art) else ""
    spread = ("mean [95 % interval: percentile bootstrap over clips, each clip with all its seeds]; "
              "a cell whose records hold no per-clip scores: mean ± sample std over seeds")
    return (f"{art.grid.title}. {art.grid.caption} Cells: accuracy (%), {spread}, "
            f"profile {art.profile}, robust accuracy under protocol {protocol}{note}{paper_part}.")


def notes(art: Artefact) -> list[str]:
    """What ran in each column and row (the records' labels), sample sizes, and problems."""
    lines = [f"- {art.found} of {art.cells} cells found ({art.profile} profile, {art.seeds} seeds each)"
             + (f"; {art.conflicted} left out: records of two configurations fit their run (see the problems)"
                if art.conflicted else "")]
    sizes = sorted({v.n for v in art.values})
    if sizes:
        lines.append(f"- clips per cell: {', '.join(map(str, sizes))}")
    for column in art.columns():
        attacks = sorted({v.attack for v in art.values if v.column == column})
        if attacks:
            lines.append(f"- column {column}: {'; '.join(attacks)}")
    for row in art.rows():
        defenses = sorted({v.defense for v in art.values if v.row == row})
        if defenses:
            lines.append(f"- row {row}: {'; '.join(defenses)}")
    paper = paper_of(art.grid.paper)
    if paper is not None and art.grid.artefact in paper.notes:
        lines.append(f"- {paper.notes[art.grid.artefact]}")
    lines += [f"- problem: {p}" for p in art.problems]
    return lines


def render(art: Artefact, stem: str) -> dict[str, str]:
    """``{file name: text}`` for the artefact's Markdown, CSV and LaTeX files."""
    with_paper = _has_numbers(art)
    md = [f"# {art.grid.title} — profile {art.profile}", ""]
    tex = []
    for protocol in protocols_of(art.grid):
        header, rows = table_rows(art, protocol, with_paper)
        md += [f"**{caption(art, protocol)}**", "", markdown_table(header, rows), ""]
        tex.append(latex_table(caption(art, protocol), header, rows, f"tab:{stem}-{protocol.replace('@', '')}"))
    if art.grid.extra.get("cost"):
        md += ["**Cost of each cell's attack, per clip (mean over seeds): gradients backpropagated through the "
               "defended model · queries · attack seconds · peak MiB (CUDA only).**", "",
               markdown_table(*cost_rows(art)), ""]
    md += ["## Cells", "", *notes(art), ""]
    if art.grid.layout != "table":
        md.insert(2, f"![{art.grid.title}]({stem}.png)\n")
    csv = ["artefact,profile,protocol,row,column,mean,std,low95,high95,seeds,seeds_expected,paper"]
    for protocol in protocols_of(art.grid):
        for row in art.rows():
            for column in art.columns():
                found = art.get(row, column, protocol)
                values = [v.value for v in found]
                mean, std = mean_std(values) if values else (float("nan"), float("nan"))
                _, low, high, is_interval = spread(found) if values else (0, 0, 0, False)
                paper = _paper_value(art, row, column) if with_paper else None
                cells = [art.grid.name, art.profile, protocol, row, column,
                         "" if not values else f"{mean:.4f}", "" if not values else f"{std:.4f}",
                         f"{low:.4f}" if is_interval else "", f"{high:.4f}" if is_interval else "",
                         str(len(values)), str(art.seeds), fmt_paper(paper)]
                csv.append(",".join(csv_cell(c) for c in cells))
    return {f"{stem}.md": "\n".join(md), f"{stem}.csv": "\n".join(csv) + "\n", f"{stem}.tex": "\n".join(tex)}


def cost_rows(art: Artefact) -> tuple[list[str], list[list[str]]]:
    """The cost table: per row and attack column, ``gradients · queries · seconds [· MiB]`` per clip."""
    columns = [c for c in art.columns() if not art.is_clean(c)]
    header = [art.grid.extra.get("row_header", "Defense"), *columns]
    rows = []
    for row in art.rows():
        cells = [row]
        for column in columns:
            costs = [v.cost for v in art.get(row, column, HEADLINE) if v.cost]
            if not costs:
                cells.append(MISSING)
                continue
            mean = {k: [c[k] for c in costs if c.get(k) is not None] for k in costs[0]}
            parts = [f"{sum(mean['gradients']) / len(mean['gradients']):.0f}" if mean.get("gradients") else "?",
                     f"{sum(mean['queries']) / len(mean['queries']):.0f}",
                     f"{sum(mean['seconds']) / len(mean['seconds']):.2f} s"]
            if mean.get("peak_mib"):
                parts.append(f"{sum(mean['peak_mib']) / len(mean['peak_mib']):.0f} MiB")
            cells.append(" · ".join(parts))
        rows.append(cells)
    return header, rows


def series(art: Artefact, protocol: str = HEADLINE) -> dict[str, list[tuple[str, float, float, float] | None]]:
    """Per row, per column: (column, mean, low, high) as the tables' cells (``spread``), or None where
    missing (for figures)."""
    out = {}
    for row in art.rows():
        points = []
        for column in art.columns():
            found = art.get(row, column, protocol)
            points.append((column, *spread(found)[:3]) if found else None)
        out[row] = points
    return out


__all__ = ["Artefact", "CONFLICT", "MISSING", "collect", "render", "series", "table_rows"]
