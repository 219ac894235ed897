"""Protocols scored from a record's stored draws: any protocol, any parameter, no rerun.

A record (schema 4) stores, for its final examples and each scored step, the predictions of every fresh
draw (``draws.predictions``) and whether the defense was deterministic (one draw standing for all). Records
migrated from schema 3 (``bench migrate``) hold no predictions, only the scores of the protocols they were
run with; those are read back, and any other protocol is unavailable for them (None).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from bench.protocols import Draws, Protocol, ProtocolUnavailable, parse_protocol


def _part(record: dict[str, Any], step: int | None) -> dict[str, Any] | None:
    if step is None:
        return record
    return next((c for c in record.get("scored_steps", []) if c["step"] == step), None)


def stored_draws(record: dict[str, Any], step: int | None = None) -> Draws | None:
    """The draws a record stores for its final examples (``step`` None) or a scored step; None if it has none."""
    part = _part(record, step)
    if part is None or "draws" not in part:
        return None
    return Draws(torch.tensor(part["draws"]["predictions"], dtype=torch.long).view(-1, record["n"]),
                 torch.tensor(record["subset"]["labels"], dtype=torch.long), bool(part["draws"]["repeatable"]),
                 torch.tensor(record["per_sample"]["first_wrong_iter"], dtype=torch.long), step)


def record_scores(record: dict[str, Any], protocols: Iterable[str | Protocol],
                  step: int | None = None) -> dict[str, float | None]:
    """Percent robust under each protocol (a name such as ``vote@5``, or a protocol) for the record's final
    examples or its scored ``step``; None where the record cannot give it."""
    wanted: Sequence[Protocol] = [p if isinstance(p, Protocol) else parse_protocol(p) for p in protocols]
    part = _part(record, step)
    draws = stored_draws(record, step)
    out: dict[str, float | None] = {}
    for protocol in wanted:
        if draws is None:  # a migrated record: the scores it was run with, nothing else
            out[protocol.name] = None if part is None else part.get("protocols", {}).get(protocol.name)
            continue
        try:
            out[protocol.name] = protocol.accuracy(draws)
        except ProtocolUnavailable:
            out[protocol.name] = None
    return out


def per_clip(record: dict[str, Any], protocol: str | Protocol, step: int | None = None) -> list[float] | None:
    """Per-clip robustness under ``protocol`` (None for a record without stored draws)."""
    draws = stored_draws(record, step)
    p = protocol if isinstance(protocol, Protocol) else parse_protocol(protocol)
    return None if draws is None else p.robust(draws).tolist()
