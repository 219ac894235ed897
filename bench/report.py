"""``bench report``: records → the paper's artefacts, Table 4, sanity checks, findings, and generic tables.

Per grid with records (``bench/grids``): Markdown, CSV and LaTeX tables laid out like the paper's, the
paper's numbers beside ours, a PNG for figures; ``table4`` from ``bench perf`` records; ``index.md`` links
everything and holds the sanity checks and the paper's findings. The generic tables below cover every
record, grid or not.

Rows are defenses, columns attack configurations, cells mean ± sample std over seeds (percent, like the
paper). One table per (victim, dataset, protocol): every record holds robust accuracy under every protocol
of its one attack run (``bench.protocols``), and ``any_iter`` tables say that they are the released code's
metric. Nothing is re-run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.grid import grid_names, load_grid
from bench.io import atomic_write_bytes, atomic_write_text
from bench.paper import NOTES, SOURCE, display_name, paper_value
from bench.perf import DIFFUSION, load_perf, perf_lookup
from bench.protocols import ANY_ITER, ANY_ITER_NOTE, protocol_order
from bench.report_artefacts import Artefact, collect, render
from bench.report_checks import findings, sanity_checks
from bench.report_figures import figure_png
from bench.report_format import MISSING, fmt_paper, latex_table, markdown_table
from bench.results import iter_records

CLEAN = "Clean"
GROUP = ["victim", "data", "protocol"]


def load_results(results: str | Path | list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (valid cell record, protocol), from a folder or from records already read."""
    rows = []
    for r in iter_records(Path(results)) if isinstance(results, (str, Path)) else results:
        spec = r["spec"]
        attack = spec["attack"]["params"]
        victim = spec["victim"]
        cell = {
            "cell_id": r["cell_id"],
            "defense": r["labels"]["defense"],
            "attack": r["labels"]["attack"],
            "victim": f"{victim['name']}/{victim['params'].get('config', 'default')}",
            "data": spec["data"]["name"],
            "gradient_mode": spec["gradient_mode"],
            "seed": spec["seed"],
            "n": r["n"],
            "clean_acc_victim": r["clean_acc_victim"],
            "clean_acc": r["clean_acc"],
            "queries_per_clip": r["queries"]["per_clip"],
            "snr_db_mean": r["checks"]["snr_db"]["mean"],
            "warnings": len(r["checks"]["warnings"]),
            "seconds": r["seconds"]["total"],
            "_order": (spec["attack"]["name"], str(attack.get("norm")), float(attack.get("eps") or 0),
                       int(attack.get("steps") or 0), int(attack.get("eot") or 1)),
        }
        for protocol, robust in r["protocols"].items():
            rows.append({**cell, "protocol": protocol, "robust_acc": robust})
    return pd.DataFrame(rows)


def mean_std(values: pd.Series) -> str:
    if len(values) == 0:
        return "—"
    if len(values) == 1:
        return f"{values.iloc[0]:.1f}"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"


def _defense_order(name: str) -> tuple[int, str]:
    return (0 if name == "none" else 1, name)


def summary_tables(df: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """(victim, data, protocol) → table with a Clean column and one column per attack configuration."""
    tables = {}
    for key, group in df.groupby(GROUP, sort=True):
        attacks = sorted(group["attack"].unique(), key=lambda a: group.loc[group["attack"] == a, "_order"].iloc[0])
        defenses = sorted(group["defense"].unique(), key=_defense_order)
        rows = []
        for defense in defenses:
            mine = group[group["defense"] == defense]
            row = {"defense": defense, CLEAN: mean_std(mine["clean_acc"])}
            for attack in attacks:
                row[attack] = mean_std(mine.loc[mine["attack"] == attack, "robust_acc"])
            rows.append(row)
        tables[key] = pd.DataFrame(rows).set_index("defense")
    return dict(sorted(tables.items(), key=lambda kv: (kv[0][0], kv[0][1], protocol_order(kv[0][2]))))


def generic_report(df: pd.DataFrame, results: str | Path) -> dict[str, str]:
    """report.md, report.csv and cells.csv: every record, grouped by (victim, data, protocol)."""
    tables = summary_tables(df)
    lines = ["# scrbench report", "",
             f"{df['cell_id'].nunique()} cells from `{results}`. Cells: robust accuracy (%), mean ± sample std over "
             "seeds; Clean: defended clean accuracy (%).", ""]
    csv_parts = []
    for (victim, data, protocol), table in tables.items():
        note = f" ({ANY_ITER_NOTE})" if protocol == ANY_ITER else ""
        lines += [f"## {victim} on {data} — protocol {protocol}{note}", "", table.to_markdown(), ""]
        csv_parts.append(table.reset_index().assign(victim=victim, data=data, protocol=protocol))
    tidy = df.drop(columns="_order").sort_values(GROUP + ["defense", "attack", "seed", "cell_id"])
    return {"report.md": "\n".join(lines), "report.csv": pd.concat(csv_parts, ignore_index=True).to_csv(index=False),
            "cells.csv": tidy.to_csv(index=False)}


def _table4(perf: list[dict[str, Any]]) -> dict[str, str]:
    """Table 4 from perf records: seconds per clip per defense, one column per (device, batch)."""
    lookup = perf_lookup(perf)
    columns = sorted({(d, b) for _, d, b in lookup})
    names = sorted({n for n, _, _ in lookup}, key=lambda n: (n not in DIFFUSION, DIFFUSION.index(n) if n in DIFFUSION
                                                              else 0, n))
    header = ["Defense", *(f"{d} batch {b}" for d, b in columns), "paper (RTX 3090)"]
    rows, csv = [], ["defense,device,batch,mean,std,repeats,device_name,paper"]
    for name in names:
        label = display_name("defense", name)
        paper = paper_value("table4", label, "seconds")
        cells = [label]
        for d, b in columns:
            r = lookup.get((name, d, b))
            s = r["seconds_per_clip"] if r else None
            cells.append(MISSING if s is None else f"{s['mean']:.4f} ± {s['std']:.4f}")
            if r:
                csv.append(",".join([name, d, str(b), f"{s['mean']:.6f}", f"{s['std']:.6f}", str(r["repeats"]),
                                     _csv_cell(r["environment"].get("device_name", "")), fmt_paper(paper)]))
        rows.append([*cells, fmt_paper(paper)])
    caption = ("Table 4: purification seconds per clip (wave purifier + mel frontend + mel purifier, no_grad, "
               "warm-up excluded, device synchronised), mean ± std over repeats. " + NOTES["table4"])
    md = "\n".join(["# Table 4: inference time of the diffusion defenses", "", f"**{caption}**", "",
                    markdown_table(header, rows), ""])
    return {"table4.md": md, "table4.csv": "\n".join(csv) + "\n",
            "table4.tex": latex_table(caption, header, rows, "tab:table4")}


def _csv_cell(text: str) -> str:
    return f'"{text}"' if any(ch in text for ch in ',"\n') else text


def _artefacts(grids: list[str | Path], records: list[dict[str, Any]]) -> tuple[list[Artefact], list[str]]:
    """Every (grid, profile) with at least one record, and one line per grid that could not be laid out."""
    arts, problems = [], []
    for grid in [load_grid(name) for name in grids]:  # a bad grid name or file is an error, not a note
        for profile in grid.profiles:
            try:
                art = collect(grid, profile, records)
            except BenchError as exc:  # a profile this installation cannot resolve: say so, lay out the rest
                problems.append(f"grid {grid.name}, profile {profile}: {exc}")
                continue
            if art.found:
                arts.append(art)
    return arts, problems


def write_report(results: str | Path, out: str | Path, grids: list[str | Path] | None = None,
                 perf: str | Path | None = None) -> list[Path]:
    """Write the generic tables, each grid's artefact (Markdown, CSV, LaTeX, PNG), Table 4 from ``perf``
    records, and ``index.md`` with the sanity checks and findings. Same records → same bytes."""
    records = list(iter_records(Path(results)))
    perf_records = load_perf(Path(perf) if perf else None)
    if not records and not perf_records:
        raise BenchError(f"no result records under {results}; run `bench run` first or pass --results DIR")
    out = Path(out)
    files: dict[str, str | bytes] = {}
    if records:
        files.update(generic_report(load_results(records), results))
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
    if perf_records:
        files.update(_table4(perf_records))
        links.append(["table4", "—", f"{len(perf_records)} perf records", "",
                      " · ".join(f"[{n}]({n})" for n in ("table4.md", "table4.csv", "table4.tex"))])
    if records:
        links.append(["all records", "—", f"{len(records)} cells",
                      f"{sum(float(r.get('seconds', {}).get('total', 0.0)) for r in records):.0f}",
                      " · ".join(f"[{n}]({n})" for n in ("report.md", "report.csv", "cells.csv"))])
    best: dict[str, Artefact] = {}
    for art in arts:  # findings read each grid's profile with the most cells found (first one on a tie)
        if art.grid.name not in best or art.found > best[art.grid.name].found:
            best[art.grid.name] = art
    lines = ["# scrbench report", "", f"{len(records)} cell records from `{results}`, {len(perf_records)} perf "
             f"records from `{perf}`. Nothing was re-run. Tables: mean ± sample std over seeds; [paper] = "
             f"{SOURCE}.", "", "## Artefacts", "",
             markdown_table(["artefact", "profile", "cells found", "cell run time (s)", "files"], links),
             "", "Cell run time: the sum of the found cells' own run times (CPU or GPU seconds of one worker each; "
             "the wall time of a grid run with several workers is less).", ""]
    lines += [f"- {p}" for p in problems] + ([""] if problems else [])
    lines += ["## Sanity checks", "", "Computed from every record (evaluation_practice §4.2).", "",
              markdown_table(["check", "status", "evidence"],
                             [[c.name, c.status, c.detail] for c in sanity_checks(records)]), "",
              "## The paper's findings", "", "Headline protocol final@1; each finding read from the profile with "
              "the most cells found.", ""]
    lines += [f"- {claim}: **{verdict}**" for claim, verdict in findings(best, perf_records)]
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
