"""Table 4 of the DualPure paper from `bench perf` records: purification seconds per clip per defense."""

from __future__ import annotations

from typing import Any

from bench.papers import get_paper
from bench.perf import DIFFUSION, perf_lookup
from bench.report.format import MISSING, csv_cell, fmt_paper, latex_table, markdown_table


def table4(perf: list[dict[str, Any]]) -> dict[str, str]:
    """Table 4 from perf records: seconds per clip per defense, one column per (device, batch)."""
    paper = get_paper("dualpure")
    lookup = perf_lookup(perf)
    columns = sorted({(d, b) for _, d, b in lookup})
    names = sorted({n for n, _, _ in lookup}, key=lambda n: (n not in DIFFUSION, DIFFUSION.index(n) if n in DIFFUSION
                                                              else 0, n))
    header = ["Defense", *(f"{d} batch {b}" for d, b in columns), "paper (RTX 3090)"]
    rows, csv = [], ["defense,device,batch,mean,std,repeats,device_name,paper"]
    for name in names:
        label = paper.display_name("defense", name)
        value = paper.value("table4", label, "seconds")
        cells = [label]
        for d, b in columns:
            r = lookup.get((name, d, b))
            s = r["seconds_per_clip"] if r else None
            cells.append(MISSING if s is None else f"{s['mean']:.4f} ± {s['std']:.4f}")
            if r:
                csv.append(",".join([name, d, str(b), f"{s['mean']:.6f}", f"{s['std']:.6f}", str(r["repeats"]),
                                     csv_cell(r["environment"].get("device_name", "")), fmt_paper(value)]))
        rows.append([*cells, fmt_paper(value)])
    caption = ("Table 4: purification seconds per clip (wave purifier + mel frontend + mel purifier, no_grad, "
               "warm-up excluded, device synchronised), mean ± std over repeats. " + paper.notes["table4"])
    md = "\n".join(["# Table 4: inference time of the diffusion defenses", "", f"**{caption}**", "",
                    markdown_table(header, rows), ""])
    return {"table4.md": md, "table4.csv": "\n".join(csv) + "\n",
            "table4.tex": latex_table(caption, header, rows, "tab:table4")}


