"""An artefact (``bench.report.artefacts``) laid out as the paper lays it out: its tables' cells, captions and
notes, its Markdown, CSV and LaTeX files, its cost table, and the points its figure draws.

Every cell reads ``mean [low, high]``: the 95 % clip bootstrap over clips, each clip with all its seeds
(``bench.stats.clip_bootstrap``); a cell whose records hold no per-clip scores (migrated ones) reads
``mean ± std`` over seeds, and the caption says both.
"""

from __future__ import annotations

from bench.papers import paper_of
from bench.protocols import ANY_ITER, ANY_ITER_NOTE, HEADLINE
from bench.report.artefacts import CONFLICT, Artefact, Value, protocols_of
from bench.report.format import MISSING, csv_cell, fmt_cell, fmt_paper, latex_table, markdown_table
from bench.stats import interval_or_none, mean_std


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
    seeds = f"{art.seeds} seed{'' if art.seeds == 1 else 's'}"
    lines = [f"- {art.found} of {art.cells} cells found ({art.profile} profile, {seeds} each)"
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


__all__ = ["caption", "cost_rows", "notes", "render", "series", "spread", "table_rows"]
