"""Rewriting records of an older schema into the current one, so reports keep reading them.

Schema 3 → 4: the spec loses its protocol parameters (``protocols.vote``; ``protocols.draws`` becomes
``draws``), scored iterates move from ``checkpoints`` to ``scored_steps``, and the record gains its
``config_id``; its ``cell_id`` is recomputed (the file is renamed). Plugin parameters added after a record was
made are filled with the value the code then fixed (``ADDED_PARAMS``), so the record keeps matching its
configuration; nothing else is guessed. ``spec.eot`` becomes what attacks now declare
(``Attack.draws_per_gradient``: fresh draws of the defense averaged into one gradient estimate): unchanged for
gradient attacks, 0 for transfer attacks (the defense never runs while crafting), ``samples × eot`` for NES.
Schema-3 records hold no per-draw predictions, only per-clip flags and the scores of the protocols they were
run with; the report reads those scores back, and any other protocol is unavailable for them. Every number
stays as it was measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.io import atomic_write_json
from bench.results import NOT_RECORDS, SCHEMA, cell_id, problem, record_path
from bench.spec import config_id

# (spec section, plugin) → parameters the plugin gained after schema-3 records were made, with the value the
# code used before it had the parameter: synth-digits formats ≤ 4 rendered every clip with a peak drawn
# from the fixed range 0.06..0.6, the defaults of the later ``peak_min``/``peak_max``.
ADDED_PARAMS: dict[tuple[str, str], dict[str, Any]] = {("data", "synth-digits"): {"peak_min": 0.06, "peak_max": 0.6}}


@dataclass
class Migration:
    migrated: list[tuple[Path, Path]] = field(default_factory=list)  # (old file, new file)
    current: int = 0  # records already of the current schema
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why): left as they are


def from_schema_3(old: dict[str, Any]) -> dict[str, Any]:
    """The schema-4 record of a finished schema-3 record (its cell_id must match its spec)."""
    spec = {k: v for k, v in old["spec"].items() if k != "protocols"}
    spec["schema"] = SCHEMA
    spec["draws"] = int(old["spec"]["protocols"]["draws"])
    spec["eot"] = _draws_per_gradient(spec)
    for (section, name), added in ADDED_PARAMS.items():
        part = spec.get(section)
        if isinstance(part, dict) and part.get("name") == name:
            part["params"] = {**added, **part.get("params", {})}
    record = {k: v for k, v in old.items() if k != "checkpoints"}
    record.update({"schema": SCHEMA, "cell_id": cell_id(spec), "config_id": config_id(spec), "spec": spec,
                   "migrated_from": {"schema": 3, "cell_id": old["cell_id"]}})
    if "checkpoints" in old:
        record["scored_steps"] = old["checkpoints"]
    return record


def _draws_per_gradient(spec: dict[str, Any]) -> int:
    """What ``Attack.draws_per_gradient`` gives for a schema-3 spec's attack (its ``eot`` meant EOT samples)."""
    modes = str(spec.get("gradient_mode", "")).split("+")
    params = spec["attack"]["params"]
    if "transfer" in modes:
        return 0
    if "nes" in modes:
        return int(params.get("eot", 1) or 1) * int(params["samples"])
    return int(spec.get("eot", 1) or 1)


def _valid_schema_3(record: Any) -> str | None:
    if not isinstance(record, dict) or record.get("schema") != 3:
        return "not a schema-3 record"
    if record.get("status") != "ok" or not isinstance(record.get("spec"), dict):
        return "not a finished record"
    if cell_id(record["spec"]) != record.get("cell_id"):
        return "cell_id does not match its spec"
    return None


def migrate_folder(folder: Path) -> Migration:
    """Rewrite every schema-3 record under ``folder`` (recursively) in place; other files are left alone."""
    out = Migration()
    for path in sorted(Path(folder).rglob("*.json")):
        if path.name.endswith(NOT_RECORDS):
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            out.skipped.append((path, "unreadable"))
            continue
        if isinstance(record, dict) and record.get("schema") == SCHEMA and problem(record, path.stem) is None:
            out.current += 1
            continue
        why = _valid_schema_3(record)
        if why is not None:
            out.skipped.append((path, why))
            continue
        new = from_schema_3(record)
        target = record_path(path.parent, new["cell_id"])
        atomic_write_json(target, new)  # the new file first: an interruption never loses a record
        if target != path:
            path.unlink()
        out.migrated.append((path, target))
    return out
