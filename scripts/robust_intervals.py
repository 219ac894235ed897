"""Robust accuracy with 95 % clip-bootstrap intervals, and cost, per configuration of a results folder.

    python scripts/robust_intervals.py RESULTS [RESULTS ...] [--protocols final@1,worst@10]

One row per configuration (records that differ only in the seed): defense and attack labels, clips × seeds,
each protocol's mean [95 % interval] over clips and seeds (``bench.stats.interval_or_none``: the clip
bootstrap), and the attack's gradients, queries and seconds per clip.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from bench.report.artefacts import attack_seconds
from bench.report.scores import per_clip
from bench.results import iter_records
from bench.stats import interval_or_none


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--protocols", default="final@1,worst@10")
    args = parser.parse_args()
    protocols = args.protocols.split(",")
    configs = defaultdict(list)
    for folder in args.results:
        for record in iter_records(folder):
            configs[record["config_id"]].append(record)
    print("| defense | attack | clips × seeds | " + " | ".join(protocols)
          + " | gradients/clip | queries/clip | attack s/clip |")
    print("|" + "---|" * (6 + len(protocols)))
    for records in sorted(configs.values(), key=lambda rs: (rs[0]["labels"]["defense"], rs[0]["labels"]["attack"])):
        first, n = records[0], sum(r["n"] for r in records)
        cells = []
        for protocol in protocols:
            interval = interval_or_none([per_clip(r, protocol)
                                         for r in sorted(records, key=lambda r: r["spec"]["seed"])])
            if interval is None:
                cells.append("–")
                continue
            mean, low, high = interval
            cells.append(f"{mean:.1f} [{low:.1f}, {high:.1f}]")
        grads = sum(r["queries"].get("gradients", 0) for r in records) / n
        queries = sum(r["queries"]["total"] for r in records) / n
        seconds = sum(attack_seconds(r) for r in records) / n
        print(f"| {first['labels']['defense']} | {first['labels']['attack']} | {first['n']} × {len(records)} | "
              + " | ".join(cells) + f" | {grads:.0f} | {queries:.0f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
