"""Result records: one JSON file per cell, named by the hash of the cell's full spec, written atomically.

A *cell* is one seed of one configuration. Its ``cell_id`` is the first 16 hex digits of the sha256 of
the canonical JSON of its spec, so an identical cell is found (and skipped) whatever ran it, and any change
to a parameter, the data subset or the victim weights makes a new cell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.io import atomic_write_json

SCHEMA = 4  # 2: every protocol, checks and query counts per cell; 3: per-batch attack streams, score_at;
# 4: stored draws scored by any protocol later, config_id, no protocol parameters in the spec (bench migrate)
MIGRATABLE = (3,)  # older schemas `bench migrate` rewrites


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def cell_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]


def record_path(results: Path, cid: str) -> Path:
    return Path(results) / f"{cid}.json"


def failure_path(results: Path, cid: str) -> Path:
    return Path(results) / f"{cid}.failed.json"


def problem(record: Any, cid: str | None = None) -> str | None:
    """Why ``record`` is not a finished record of the current schema (with id ``cid``), or None when it is."""
    if not isinstance(record, dict) or "schema" not in record:
        return "not a cell record"
    if record.get("schema") in MIGRATABLE:
        return f"schema {record['schema']}, not {SCHEMA}: rewrite it with `bench migrate FOLDER`"
    if record.get("schema") != SCHEMA:
        return f"schema {record.get('schema')!r}, not {SCHEMA}"
    if record.get("status") != "ok":
        return f"status {record.get('status')!r}, not 'ok'"
    spec = record.get("spec")
    if not isinstance(spec, dict):
        return "no spec"
    try:
        matches = cell_id(spec) == record.get("cell_id")
    except ValueError:  # NaN or infinity in the spec: canonical JSON refuses them
        matches = False
    if not matches:
        return "cell_id does not match its spec"
    from bench.spec import config_id  # bench.spec builds on this module

    if record.get("config_id") != config_id(spec):
        return "config_id does not match its spec"
    if cid is not None and record["cell_id"] != cid:
        return "file name does not match its cell_id"
    return None


def is_valid(record: Any, cid: str | None = None) -> bool:
    """A finished record: current schema, status ok, and its id matches its spec (and ``cid``)."""
    return problem(record, cid) is None


def load_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the record at ``path``, None) if it is a valid finished record, else (None, why not)."""
    try:
        record = json.loads(Path(path).read_text())
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    except ValueError:
        return None, "not valid JSON (truncated?)"
    why = problem(record, Path(path).stem)
    return (record, None) if why is None else (None, why)


def read_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path`` if it is a valid finished record, else None (missing, partial or stale): what
    ``bench run`` asks to decide whether a cell is finished (a partial record is simply recomputed)."""
    return load_record(path)[0]


def write_record(results: Path, record: dict[str, Any]) -> Path:
    path = record_path(results, record["cell_id"])
    atomic_write_json(path, record)
    failure_path(results, record["cell_id"]).unlink(missing_ok=True)
    return path


# JSON files in a results folder that are not cell records: failed cells, and `bench perf` records
# (bench.perf.SUFFIX) when a parent folder of both is passed.
NOT_RECORDS = (".failed.json", ".perf.json")


def _candidates(results: Path) -> list[Path]:
    return [p for p in sorted(Path(results).rglob("*.json")) if not p.name.endswith(NOT_RECORDS)]


def iter_records(results: Path) -> Iterator[dict[str, Any]]:
    """Every valid record under ``results`` (recursively), in path order; other files are ignored."""
    for path in _candidates(results):
        record = read_record(path)
        if record is not None:
            yield record


@dataclass
class RecordScan:
    """What ``bench report`` read: the records of every folder, and what it could not use."""

    folders: list[Path]
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why): not a usable record
    failed: list[Path] = field(default_factory=list)  # *.failed.json: cells that failed, not records
    duplicates: int = 0  # records found again (same cell_id, in a later folder or subfolder), counted once

    def skipped_line(self, limit: int = 10) -> str:
        """``N unreadable record(s): a.json (why), …`` (at most ``limit`` names), or "" when none."""
        if not self.skipped:
            return ""
        names = [f"{path} ({why})" for path, why in self.skipped[:limit]]
        more = f" and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"skipped {len(self.skipped)} unreadable record(s): {', '.join(names)}{more}"


def scan_records(folders: Sequence[str | Path]) -> RecordScan:
    """Every valid record under each folder (recursively, folders in order, files in path order), each
    cell once (the first folder's copy), and every ``*.json`` that is not a usable record, with why."""
    scan = RecordScan([Path(f) for f in folders])
    seen: set[str] = set()
    for folder in scan.folders:
        scan.failed += sorted(folder.rglob("*.failed.json"))
        for path in _candidates(folder):
            record, why = load_record(path)
            if record is None:
                scan.skipped.append((path, why or "not a record"))
            elif record["cell_id"] in seen:
                scan.duplicates += 1
            else:
                seen.add(record["cell_id"])
                scan.records.append(record)
    return scan
