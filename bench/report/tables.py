"""The report's generic tables (report.md, report.csv, cells.csv): every record, grid or not.

One table per (victim, dataset, protocol); rows are defenses, columns attack configurations, cells the mean
and its 95 % interval over clips and seeds (``bench.stats.clip_bootstrap``; records without per-clip scores:
mean ± sample std over seeds), in percent like the paper. A cell holds the records of exactly one configuration
(``bench.report.configs``: the spec without its seed). Rows split by what is not the attack (victim weights,
data subset, batch size, …), columns by what is; a row or column that is split, or a table whose rows
differ beyond their defense, names the differing spec paths after its label. ``any_iter`` tables say
that they are the released code's metric.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.protocols import ANY_ITER, ANY_ITER_NOTE, default_protocols, protocol_order
from bench.report.configs import bare, column_part, config_id, config_key, differing, row_part, suffixes
from bench.report.format import fmt_cell
from bench.report.scores import per_clip, record_scores
from bench.results import canonical_json, iter_records
from bench.stats import interval_or_none

CLEAN = "Clean"
GROUP = ["victim", "data", "protocol"]
_PRIVATE = ["_order", "_config", "_row", "_col", "_clips", "_clean_clips"]


def record_protocols(record: dict[str, Any], wanted: Sequence[str] | None = None) -> dict[str, float]:
    """Percent robust per protocol: ``wanted`` (names such as ``vote@5``), else the record's default set;
    protocols the record cannot give (too few draws) are left out."""
    if wanted is None:
        stored = "draws" in record
        wanted = [p.name for p in default_protocols(record["spec"].get("draws", 1))] if stored else \
            list(record["protocols"])
    return {k: v for k, v in record_scores(record, wanted).items() if v is not None}


def load_results(results: str | Path | list[dict[str, Any]], protocols: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (valid cell record, protocol), from a folder or from records already read; ``protocols``
    (names) scored from every record's stored draws, default: each record's default set."""
    rows = []
    for r in iter_records(Path(results)) if isinstance(results, (str, Path)) else results:
        spec = r["spec"]
        attack = spec["attack"]["params"]
        victim = spec["victim"]
        cell = {
            "cell_id": r["cell_id"],
            "config_id": config_id(spec),
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
            # the clips' level beside ε (records before it was stored: empty)
            "snr_db_median": r["checks"]["snr_db"].get("median"),
            "clip_peak_median": r["checks"].get("levels", {}).get("peak_median"),
            "warnings": len(r["checks"]["warnings"]),
            "seconds": r["seconds"]["total"],
            "_order": (spec["attack"]["name"], str(attack.get("norm")), float(attack.get("eps") or 0),
                       int(attack.get("steps") or 0), int(attack.get("eot") or 1)),
            "_config": config_key(spec),
            "_row": canonical_json(row_part(spec)),
            "_col": canonical_json(column_part(spec)),
        }
        clean = r.get("per_sample", {}).get("clean")
        cell["_clean_clips"] = None if clean is None else tuple(float(v) for v in clean)
        for protocol, robust in record_protocols(r, protocols).items():
            clips = per_clip(r, protocol)
            rows.append({**cell, "protocol": protocol, "robust_acc": robust,
                         "_clips": None if clips is None else tuple(float(v) for v in clips)})
    return pd.DataFrame(rows)


def _cell(records: pd.DataFrame, value: str, clips: str) -> str:
    """``mean [low, high]`` over the records of one configuration (one a seed), or ``mean ± std`` when they hold
    no per-clip scores; ``—`` for none."""
    ordered = records.sort_values("seed")
    interval = interval_or_none(list(ordered[clips])) if len(ordered) else None
    if interval is None:
        return fmt_cell(ordered[value].tolist(), empty="—")
    mean, low, high = interval
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def _defense_order(name: str) -> tuple[int, str]:
    return (0 if name == "none" else 1, name)


def _row_suffixes(group: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(defense label, row key) → what tells the row from the others: paths outside the defense that
    differ anywhere in the table, and the defense's own paths that differ between rows of one label."""
    specs = {(d, k): json.loads(k) for d, k in group[["defense", "_row"]].drop_duplicates().itertuples(index=False)}
    common = differing([{k: v for k, v in s.items() if k != "defense"} for s in specs.values()])
    own = {label: differing([s for (d, _), s in specs.items() if d == label]) for label, _ in specs}
    paths = {key: sorted(set(common) | set(own[key[0]])) for key in specs}
    named = suffixes({json.dumps(key): s for key, s in specs.items()}, {json.dumps(k): p for k, p in paths.items()})
    return {key: named[json.dumps(key)] for key in specs}


def _column_suffixes(group: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(attack label, column key) → suffix: the attack's paths that differ between records of one label in
    one row (a label that never meets two configurations in a row stays one column)."""
    out: dict[tuple[str, str], str] = {}
    for label, mine in group.groupby("attack", sort=True):
        clash: set[str] = set()
        for _, row in mine.groupby(["defense", "_row"], sort=True):
            clash |= set(differing([json.loads(k) for k in row["_col"].unique()]))
        keys = sorted(mine["_col"].unique())
        named = suffixes({k: json.loads(k) for k in keys}, sorted(clash))
        out.update({(label, k): named[k] for k in keys})
    return out


def summary_tables(df: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """(victim, data, protocol) → table indexed by row label: ``defense`` and ``differs`` (the row's suffix,
    for CSV), a Clean column (the row's configuration with the most seeds) and one column per attack
    configuration; every cell over the records of one configuration."""
    tables = {}
    for key, group in df.groupby(GROUP, sort=True):
        rows, columns = _row_suffixes(group), _column_suffixes(group)
        group = group.assign(_r=[rows[(d, k)] for d, k in zip(group["defense"], group["_row"], strict=True)],
                             _c=[a + columns[(a, k)] for a, k in zip(group["attack"], group["_col"], strict=True)])
        first = {a: i for i, a in enumerate(dict.fromkeys(group["attack"]))}  # ties in _order: as read
        place: dict[str, tuple] = {}
        for header, attack, order in zip(group["_c"], group["attack"], group["_order"], strict=True):
            place[header] = min(place.get(header, (order, first[attack], header)), (order, first[attack], header))
        headers = sorted(place, key=place.__getitem__)
        table = []
        for (defense, suffix), mine in sorted(group.groupby(["defense", "_r"], sort=True),
                                              key=lambda kv: (_defense_order(kv[0][0]), kv[0][1])):
            counts = mine.groupby("_config")["seed"].nunique()
            clean = mine[mine["_config"] == max(sorted(counts.index), key=lambda c: counts[c])]
            row = {"label": defense + suffix, "defense": defense, "differs": bare(suffix),
                   CLEAN: _cell(clean, "clean_acc", "_clean_clips")}
            for header in headers:
                row[header] = _cell(mine.loc[mine["_c"] == header], "robust_acc", "_clips")
            table.append(row)
        tables[key] = pd.DataFrame(table).set_index("label")
    return dict(sorted(tables.items(), key=lambda kv: (kv[0][0], kv[0][1], protocol_order(kv[0][2]))))


def generic_report(df: pd.DataFrame, results: str) -> dict[str, str]:
    """report.md, report.csv and cells.csv: every record, grouped by (victim, data, protocol); ``results``
    names the folders read."""
    tables = summary_tables(df)
    lines = ["# scrbench report", "",
             f"{df['cell_id'].nunique()} cells from {results}. Cells: robust accuracy (%) over the records of one "
             "configuration, mean [95 % interval: percentile bootstrap over clips, each clip with all its seeds] "
             "(records without per-clip scores: mean ± sample std over seeds; rows and columns that differ in more "
             "than their label say how in [brackets]); Clean: defended clean accuracy (%), the same way.", ""]
    csv_parts = []
    for (victim, data, protocol), table in tables.items():
        note = f" ({ANY_ITER_NOTE})" if protocol == ANY_ITER else ""
        shown = table.drop(columns=["defense", "differs"]).rename_axis("defense")
        lines += [f"## {victim} on {data} — protocol {protocol}{note}", "", shown.to_markdown(), ""]
        csv = table.drop(columns="differs").reset_index(drop=True).assign(victim=victim, data=data, protocol=protocol)
        csv_parts.append(csv.assign(differs=table["differs"].to_numpy()))
    tidy = df.drop(columns=_PRIVATE).sort_values(GROUP + ["defense", "attack", "config_id", "seed", "cell_id"])
    return {"report.md": "\n".join(lines), "report.csv": pd.concat(csv_parts, ignore_index=True).to_csv(index=False),
            "cells.csv": tidy.to_csv(index=False)}
