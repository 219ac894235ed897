"""A paper's timing table from `bench perf` records (the DualPure paper's Table 4): per-clip cost per defense.

Which artefact of which paper is a timing table, its title, its paper column and its note are the paper's
(``Paper.timing``); this module only lays out perf records: one column per (device, batch, config, mode),
purification seconds per clip beside the paper's figure, then (from records that measured them) the attack
step's seconds per clip and the peak memory per clip, each table closed by the AudioPure/DualPure ratio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.papers import Paper
from bench.perf import CONFIGS, DIFFUSION, MODES, RANDOM, PerfKey, perf_lookup, setting_label
from bench.report.format import MISSING, csv_cell, fmt_duration, fmt_paper, latex_table, markdown_table

Column = tuple[str, int, str, str]  # device, batch, config, mode
RATIO = ("audiopure", "dualpure")  # the ratio row: how many times DualPure's cost AudioPure's is
_CSV = ("defense,device,batch,mean,std,repeats,device_name,paper,config,mode,weights,attack_step_mean,"
        "attack_step_std,purify_bytes_per_clip,attack_step_bytes_per_clip")


def column_label(column: Column, random: bool = False) -> str:
    """``cpu batch 1`` for the slim networks run eagerly; the configuration and mode follow otherwise
    (``cuda batch 16 paper compiled``), and ``†`` marks random weights (timing only)."""
    device, batch, config, mode = column
    setting = setting_label(device, config, mode)
    return f"{device} batch {batch}{setting[len(device):]}{' †' if random else ''}"


def ratio_cell(values: dict[str, float | None]) -> str:
    """AudioPure's value over DualPure's, ``6.55×``; empty where either is missing or DualPure's is 0."""
    top, bottom = (values.get(n) for n in RATIO)
    return "" if top is None or not bottom else f"{top / bottom:.3g}×"


def _seconds(key: str) -> Callable[[dict[str, Any]], tuple[float, float] | None]:
    def get(record: dict[str, Any]) -> tuple[float, float] | None:
        s = record.get(key)
        return None if not s else (s["mean"], s["std"])
    return get


def _per_clip_bytes(record: dict[str, Any], stage: str) -> float | None:
    return ((record.get("memory") or {}).get(stage) or {}).get("per_clip_bytes")


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value / 2**20:.3g}"


def timing_table(paper: Paper, artefact: str, perf: list[dict[str, Any]]) -> dict[str, str]:
    """``{file name: text}`` of ``paper``'s timing ``artefact`` from perf records: purification seconds per
    clip per defense with the paper's value and the AudioPure/DualPure ratio; then, where measured, the attack
    step's seconds per clip and the peak memory per clip."""
    title, paper_column = paper.timing[artefact]
    lookup = perf_lookup(perf)
    columns: list[Column] = sorted({(d, b, c, m) for _, d, b, c, m in lookup},
                                   key=lambda k: (k[0], CONFIGS.index(k[2]) if k[2] in CONFIGS else 9,
                                                  MODES.index(k[3]) if k[3] in MODES else 9, k[1], k[2], k[3]))
    names = sorted({n for n, *_ in lookup}, key=lambda n: (n not in DIFFUSION, DIFFUSION.index(n) if n in DIFFUSION
                                                           else 0, n))

    def record(name: str, column: Column) -> dict[str, Any] | None:
        key: PerfKey = (name, column[0], column[1], column[2], column[3])
        return lookup.get(key)

    random = {c: any(r and r.get("weights") == RANDOM for r in (record(n, c) for n in names)) for c in columns}
    labels = [column_label(c, random[c]) for c in columns]
    display = {n: paper.display_name("defense", n) for n in names}
    ratio_label = " / ".join(paper.display_name("defense", n) for n in RATIO)

    def table(cell: Callable[[dict[str, Any]], str], value: Callable[[dict[str, Any]], float | None],
              paper_values: dict[str, float | None] | None) -> tuple[list[str], list[list[str]]]:
        rows = []
        for name in names:
            cells = [display[name]]
            for c in columns:
                r = record(name, c)
                cells.append(MISSING if r is None or value(r) is None else cell(r))
            if paper_values is not None:
                v = paper_values.get(name)
                cells.append("" if v is None else fmt_duration(v))
            rows.append(cells)
        ratios = [ratio_cell({n: (value(r) if (r := record(n, c)) else None) for n in RATIO}) for c in columns]
        if paper_values is not None:
            ratios.append(ratio_cell(paper_values))
        rows.append([ratio_label, *ratios])
        return ["Defense", *labels, *([paper_column] if paper_values is not None else [])], rows

    purify = _seconds("seconds_per_clip")
    paper_values = {n: paper.value(artefact, display[n], "seconds") for n in names}
    paper_values.update({n: paper.value(artefact, paper.display_name("defense", n), "seconds") for n in RATIO})
    header, rows = table(lambda r: fmt_duration(*purify(r)), lambda r: (purify(r) or (None,))[0], paper_values)
    note = (" † random weights (timing only): the published network sizes without trained weights."
            if any(random.values()) else "")
    caption = (f"{title.partition(':')[0]}: purification time per clip (wave purifier + mel frontend + mel "
               "purifier, no_grad, warm-up excluded, device synchronised), mean ± std over repeats. "
               + paper.notes.get(artefact, "") + note)
    md = [f"# {title}", "", f"**{caption}**", "", markdown_table(header, rows), ""]
    tex = [latex_table(caption, header, rows, f"tab:{artefact}")]
    measured = [r for r in lookup.values() if r.get("attack_step_seconds_per_clip")]
    if measured:
        step = _seconds("attack_step_seconds_per_clip")
        header, rows = table(lambda r: fmt_duration(*step(r)), lambda r: (step(r) or (None,))[0], None)
        caption = ("Attack step time per clip: forward and backward of the cross-entropy through the whole "
                   "defended model to the input wave (exact gradients), mean ± std over repeats." + note)
        md += [f"## {caption.partition(':')[0]}", "", f"**{caption}**", "", markdown_table(header, rows), ""]
        tex.append(latex_table(caption, header, rows, f"tab:{artefact}-attack-step"))
        header, rows = table(lambda r: f"{_mib(_per_clip_bytes(r, 'purify'))} / "
                                       f"{_mib(_per_clip_bytes(r, 'attack_step'))}",
                             lambda r: _per_clip_bytes(r, "attack_step"), None)
        methods = sorted({str(((r.get("memory") or {}).get("attack_step") or {}).get("method")) for r in measured})
        caption = ("Peak memory per clip: MiB added at the peak of purification / of an attack step, per clip "
                   f"(the ratio row: attack step). Measured as {'; '.join(methods)}." + note)
        md += [f"## {caption.partition(':')[0]}", "", f"**{caption}**", "", markdown_table(header, rows), ""]
        tex.append(latex_table(caption, header, rows, f"tab:{artefact}-memory"))
    csv = [_CSV]
    for (name, d, b, c, m), r in sorted(lookup.items()):
        s, a = r["seconds_per_clip"], r.get("attack_step_seconds_per_clip") or {}
        value = paper.value(artefact, display[name], "seconds")
        csv.append(",".join([name, d, str(b), f"{s['mean']:.6f}", f"{s['std']:.6f}", str(r["repeats"]),
                             csv_cell(r.get("environment", {}).get("device_name", "")), fmt_paper(value), c, m,
                             csv_cell(str(r.get("weights", ""))),
                             *(f"{a[k]:.6f}" if a else "" for k in ("mean", "std")),
                             *(str(v) if (v := _per_clip_bytes(r, st)) is not None else ""
                               for st in ("purify", "attack_step"))]))
    return {f"{artefact}.md": "\n".join(md), f"{artefact}.csv": "\n".join(csv) + "\n",
            f"{artefact}.tex": "\n".join(tex)}
