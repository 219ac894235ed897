"""``bench report``: every valid record under a folder → pandas → Markdown and CSV tables.

Rows are defenses, columns attack configurations, cells mean ± sample std over seeds (percent, like the
paper). One table per (victim, dataset, protocol); nothing is re-run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.io import atomic_write_text
from bench.results import iter_records

CLEAN = "Clean"
GROUP = ["victim", "data", "protocol"]


def load_results(results: str | Path) -> pd.DataFrame:
    """One row per valid cell record."""
    rows = []
    for r in iter_records(Path(results)):
        spec = r["spec"]
        attack = spec["attack"]["params"]
        victim = spec["victim"]
        rows.append({
            "cell_id": r["cell_id"],
            "defense": r["labels"]["defense"],
            "attack": r["labels"]["attack"],
            "victim": f"{victim['name']}/{victim['params'].get('config', 'default')}",
            "data": spec["data"]["name"],
            "protocol": spec["protocol"],
            "gradient_mode": spec["gradient_mode"],
            "seed": spec["seed"],
            "n": r["n"],
            "clean_acc_victim": r["clean_acc_victim"],
            "clean_acc": r["clean_acc"],
            "robust_acc": r["robust_acc"],
            "seconds": r["seconds"]["total"],
            "_order": (spec["attack"]["name"], str(attack.get("norm")), float(attack.get("eps") or 0),
                       int(attack.get("steps") or 0), int(attack.get("eot") or 1)),
        })
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
    return tables


def write_report(results: str | Path, out: str | Path) -> list[Path]:
    df = load_results(results)
    if df.empty:
        raise BenchError(f"no result records under {results}; run `bench run` first or pass --results DIR")
    out = Path(out)
    tables = summary_tables(df)
    lines = ["# scrbench report", "",
             f"{len(df)} cells from `{results}`. Cells: robust accuracy (%), mean ± sample std over seeds; "
             "Clean: defended clean accuracy (%).", ""]
    csv_parts = []
    for (victim, data, protocol), table in tables.items():
        lines += [f"## {victim} on {data} — protocol {protocol}", "", table.to_markdown(), ""]
        csv_parts.append(table.reset_index().assign(victim=victim, data=data, protocol=protocol))
    written = [out / "report.md", out / "report.csv", out / "cells.csv"]
    atomic_write_text(written[0], "\n".join(lines))
    atomic_write_text(written[1], pd.concat(csv_parts, ignore_index=True).to_csv(index=False))
    tidy = df.drop(columns="_order").sort_values(GROUP + ["defense", "attack", "seed"])
    atomic_write_text(written[2], tidy.to_csv(index=False))
    return written
