"""A paper's timing table from `bench perf` records (the DualPure paper's Table 4): seconds per clip per defense.

Which artefact of which paper is a timing table, its title, its paper column and its note are the paper's
(``Paper.timing``); this module only lays out perf records."""

from __future__ import annotations

from typing import Any

from bench.papers import Paper
from bench.perf import DIFFUSION, perf_lookup
from bench.report.format import MISSING, csv_cell, fmt_duration, fmt_paper, latex_table, markdown_table


def timing_table(paper: Paper, artefact: str, perf: list[dict[str, Any]]) -> dict[str, str]:
    """``{file name: text}`` of ``paper``'s timing ``artefact`` from perf records: seconds per clip per
    defense, one column per (device, batch), the paper's value in the last."""
    title, paper_column = paper.timing[artefact]
    lookup = perf_lookup(perf)
    columns = sorted({(d, b) for _, d, b in lookup})
    names = sorted({n for n, _, _ in lookup}, key=lambda n: (n not in DIFFUSION, DIFFUSION.index(n) if n in DIFFUSION
                                                              else 0, n))
    header = ["Defense", *(f"{d} batch {b}" for d, b in columns), paper_column]
    rows, csv = [], ["defense,device,batch,mean,std,repeats,device_name,paper"]
    for name in names:
        label = paper.display_name("defense", name)
        value = paper.value(artefact, label, "seconds")
        cells = [label]
        for d, b in columns:
            r = lookup.get((name, d, b))
            s = r["seconds_per_clip"] if r else None
            cells.append(MISSING if s is None else fmt_duration(s["mean"], s["std"]))
            if r:
                csv.append(",".join([name, d, str(b), f"{s['mean']:.6f}", f"{s['std']:.6f}", str(r["repeats"]),
                                     csv_cell(r["environment"].get("device_name", "")), fmt_paper(value)]))
        rows.append([*cells, "" if value is None else fmt_duration(value)])
    caption = (f"{title.partition(':')[0]}: purification time per clip (wave purifier + mel frontend + mel "
               "purifier, no_grad, warm-up excluded, device synchronised), mean ± std over repeats. "
               + paper.notes.get(artefact, ""))
    md = "\n".join([f"# {title}", "", f"**{caption}**", "", markdown_table(header, rows), ""])
    return {f"{artefact}.md": md, f"{artefact}.csv": "\n".join(csv) + "\n",
            f"{artefact}.tex": latex_table(caption, header, rows, f"tab:{artefact}")}


