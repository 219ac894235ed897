"""Result records: one JSON file per cell, named by the hash of the cell's full spec, written atomically.

A *cell* is one seed of one configuration. Its ``cell_id`` is the first 16 hex digits of the sha256 of
the canonical JSON of its spec, so an identical cell is found (and skipped) whatever ran it, and any change
to a parameter, the data subset or the victim weights makes a new cell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.io import atomic_write_json

SCHEMA = 3  # 2: every protocol, checks and query counts per cell; 3: per-batch attack streams, score_at


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def cell_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]


def record_path(results: Path, cid: str) -> Path:
    return Path(results) / f"{cid}.json"


def failure_path(results: Path, cid: str) -> Path:
    return Path(results) / f"{cid}.failed.json"


def is_valid(record: Any, cid: str | None = None) -> bool:
    """A finished record: current schema, status ok, and its id matches its spec (and ``cid``)."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA or record.get("status") != "ok":
        return False
    spec = record.get("spec")
    if not isinstance(spec, dict) or cell_id(spec) != record.get("cell_id"):
        return False
    return cid is None or record["cell_id"] == cid


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path`` if it is a valid finished record, else None (missing, partial or stale)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if is_valid(record, Path(path).stem) else None


def write_record(results: Path, record: dict[str, Any]) -> Path:
    path = record_path(results, record["cell_id"])
    atomic_write_json(path, record)
    failure_path(results, record["cell_id"]).unlink(missing_ok=True)
    return path


def iter_records(results: Path) -> Iterator[dict[str, Any]]:
    """Every valid record under ``results`` (recursively), in path order; other files are ignored."""
    for path in sorted(Path(results).rglob("*.json")):
        if path.name.endswith(".failed.json"):
            continue
        record = read_record(path)
        if record is not None:
            yield record
