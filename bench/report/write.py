"""``bench report`` in one call: every file of a report folder from records and perf records.

Per grid with records (``bench/grids``): Markdown, CSV and LaTeX tables laid out like the paper's, the
paper's numbers beside ours, a PNG for figures; Table 4 from ``bench perf`` records; ``index.md`` links
everything and holds the sanity checks and each paper's findings. The generic tables cover every record,
grid or not. A file that is not a usable record is reported, never silently dropped. Nothing is re-run, and
nothing averages records of two configurations (``bench.report.configs``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.grid import grid_names, load_grid
from bench.io import atomic_write_bytes, atomic_write_text
from bench.papers import get_paper
from bench.perf import load_perf
from bench.registry import REGISTRY
from bench.report.artefacts import Artefact, collect
from bench.report.checks import sanity_checks
from bench.report.figures import figure_png
from bench.report.format import markdown_table
from bench.report.layout import render
from bench.report.tables import generic_report, load_results
from bench.report.timing import timing_table
from bench.results import RecordScan, scan_records


def _artefacts(grids: list[str | Path], records: list[dict[str, Any]]) -> tuple[list[Artefact], list[str]]:
    """Every (grid, profile) with at least one record fitting a cell, and one line per grid that could not be
    laid out."""
    arts, problems = [], []
    for grid in [load_grid(name) for name in grids]:  # a bad grid name or file is an error, not a note
        for profile in grid.profiles:
            try:
                art = collect(grid, profile, records)
            except BenchError as exc:  # a profile this installation cannot resolve: say so, lay out the rest
                problems.append(f"grid {grid.name}, profile {profile}: {exc}")
                continue
            if art.found or art.conflicted:  # a cell left out for a conflict is shown as one, with its notes
                arts.append(art)
    return arts, problems


def _folders(results: str | Path | Sequence[str | Path]) -> list[Path]:
    return [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]


def _inputs(scan: RecordScan) -> list[str]:
    """index.md lines on what was read but not tabulated: unusable files, failed cells, duplicates."""
    lines = []
    if scan.skipped:
        lines += [f"**Warning: {len(scan.skipped)} file(s) that are not usable records were skipped** (unreadable, "
                  "truncated, another schema, or a cell_id that does not match the spec); every number here is "
                  "from the other records:", "", *(f"- `{path}`: {why}" for path, why in scan.skipped), ""]
    if scan.failed:
        lines += [f"{len(scan.failed)} failed cell(s) (`*.failed.json`, no result) are not in the tables: "
                  + ", ".join(f"`{p.name}`" for p in scan.failed), ""]
    if scan.duplicates:
        lines += [f"{scan.duplicates} record(s) found more than once (the same cell in two folders) were counted "
                  "once (the first copy, folders in the order given).", ""]
    return lines


def write_report(results: str | Path | Sequence[str | Path], out: str | Path, grids: list[str | Path] | None = None,
                 perf: str | Path | None = None, warn: Callable[[str], None] | None = None,
                 protocols: Sequence[str] | None = None) -> list[Path]:
    """Write the generic tables, each grid's artefact (Markdown, CSV, LaTeX, PNG), Table 4 from ``perf``
    records, and ``index.md`` with the sanity checks and findings, from the records of every folder in
    ``results`` (a cell in two folders counted once). Files that are not usable records are named in
    index.md and passed to ``warn``. Same records → same bytes."""
    scan = scan_records(_folders(results))
    if warn is not None and scan.skipped:
        warn(scan.skipped_line())
    records = scan.records
    read = ", ".join(f"`{f}`" for f in scan.folders)
    perf_records = load_perf(Path(perf) if perf else None)
    if not records and not perf_records:
        raise BenchError(f"no result records under {', '.join(map(str, scan.folders))}; run `bench run` first "
                         "or pass --results DIR")
    out = Path(out)
    files: dict[str, str | bytes] = {}
    if records:
        files.update(generic_report(load_results(records, protocols), read))
    arts, problems = _artefacts(list(grid_names() if grids is None else grids), records)
    links = []
    for art in arts:
        stem = f"{art.grid.name}-{art.profile}"
        files.update(render(art, stem))
        png = figure_png(art)
        names = [f"{stem}.md", f"{stem}.csv", f"{stem}.tex", *([f"{stem}.png"] if png else [])]
        if png:
            files[f"{stem}.png"] = png
        links.append([art.grid.name, art.profile, f"{art.found}/{art.cells}", f"{art.seconds:.0f}",
                      " · ".join(f"[{n}]({n})" for n in names)])
    papers = [get_paper(name) for name in REGISTRY.names("paper")]  # every registered paper, judged from here
    for paper in papers if perf_records else []:
        for artefact in paper.timing:  # a paper's timing tables come from perf records, not cells
            files.update(timing_table(paper, artefact, perf_records))
            links.append([artefact, "—", f"{len(perf_records)} perf records", "",
                          " · ".join(f"[{artefact}.{x}]({artefact}.{x})" for x in ("md", "csv", "tex"))])
    if records:
        links.append(["all records", "—", f"{len(records)} cells",
                      f"{sum(float(r.get('seconds', {}).get('total', 0.0)) for r in records):.0f}",
                      " · ".join(f"[{n}]({n})" for n in ("report.md", "report.csv", "cells.csv"))])
    best: dict[str, Artefact] = {}
    for art in arts:  # findings read each grid's profile with the most cells found (first one on a tie)
        if art.grid.name not in best or art.found > best[art.grid.name].found:
            best[art.grid.name] = art
    sources = "; ".join(p.source for p in papers) or "none"
    lines = ["# scrbench report", "", f"{len(records)} cell records from {read}, {len(perf_records)} perf "
             f"records from `{perf}`. Nothing was re-run. Tables: mean [95 % interval over clips and seeds, "
             f"percentile bootstrap]; [paper] = "
             f"{sources}.", "", *_inputs(scan), "## Artefacts", "",
             markdown_table(["artefact", "profile", "cells found", "cell run time (s)", "files"], links),
             "", "Cell run time: the sum of the found cells' own run times (CPU or GPU seconds of one worker each; "
             "the wall time of a grid run with several workers is less).", ""]
    lines += [f"- {p}" for p in problems] + ([""] if problems else [])
    lines += ["## Sanity checks", "", "Computed from every record; each mean is over "
              "the seeds of one configuration (records that differ in anything but the seed are judged apart).", "",
              markdown_table(["check", "status", "evidence"],
                             [[c.name, c.status, c.detail] for c in sanity_checks(records)]), "",
              "## The paper's findings", "", "Headline protocol final@1; each finding read from the profile with "
              "the most cells found. Each is decided by the 95 % paired bootstrap interval of its effect (the "
              "difference of two cells over the same clips and seeds, clips resampled with all their seeds): "
              "*shown* when the interval is above zero, *contradicted* when below, *not shown* when it contains "
              "zero; (d) by the timing repeats.", ""]
    for paper in papers:
        if paper.findings is not None:
            lines += [f"- {claim}: **{verdict}**" for claim, verdict in paper.findings(best, perf_records)]
    files["index.md"] = "\n".join(lines) + "\n"
    written = []
    for name, content in sorted(files.items()):
        path = out / name
        if isinstance(content, bytes):
            atomic_write_bytes(path, content)
        else:
            atomic_write_text(path, content)
        written.append(path)
    return written
