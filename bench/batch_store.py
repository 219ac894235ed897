"""A cell's attacked batches, kept until its record is written: an interrupted cell resumes at its first
unattacked batch instead of from nothing.

Batch b's attack and iterate draws come from generators derived from (seed, b) (``bench.attack_run``), so a
batch attacked by an earlier process is the batch an uninterrupted run would attack: keeping it changes no
number. A cell of a query attack through a diffusion purifier runs for hours on a CPU (Table 3's DDPM ×
FakeBob: two batches of over an hour each); without this, stopping it at any point lost all of it.

Each batch, once attacked, is written atomically to ``<results>/.batches/<cell_id>/<b>.pt`` (``torch.save``,
read back with ``weights_only=True``): its adversarial examples, first wrong iterate per clip, the iterates
the cell scores, the attack's outcomes, its query counts, peak memory and seconds. A batch is reused only by
the environment that made it (the ``environment`` a record stores: code commit and local changes, packages,
device, threads), because float results may differ elsewhere; any other file is ignored and recomputed. The
folder is removed once the cell's record is written.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bench.io import atomic_write_bytes

FOLDER = ".batches"  # under the results folder; records are *.json, so scans never read these


@dataclass
class AttackedBatch:
    """What one batch's attack leaves for the cell: examples, first wrong iterate, kept iterates (step →
    iterate), the attack's outcomes (``Attack.take_outcomes``), query counts (``QueryCounter.counts``),
    whether it drew randomness, its attack and tracking seconds, and the peak memory so far (CUDA only)."""

    x_adv: Tensor
    first_wrong: Tensor
    kept: dict[int, Tensor] = field(default_factory=dict)
    outcomes: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    drew: bool = False
    attack_seconds: float = 0.0
    tracking_seconds: float = 0.0
    peak_bytes: int | None = None


class BatchStore:
    """The attacked batches of one cell, in ``folder``, made in the environment ``fingerprint``."""

    def __init__(self, folder: str | Path, fingerprint: dict[str, Any]):
        self.folder = Path(folder)
        self.fingerprint = json.dumps(fingerprint, sort_keys=True, default=str)

    @classmethod
    def for_cell(cls, results: str | Path, cid: str, fingerprint: dict[str, Any]) -> BatchStore:
        return cls(Path(results) / FOLDER / cid, fingerprint)

    def _path(self, b: int) -> Path:
        return self.folder / f"{b}.pt"

    def save(self, b: int, batch: AttackedBatch) -> None:
        payload = {"fingerprint": self.fingerprint, "x_adv": batch.x_adv.detach().cpu(),
                   "first_wrong": batch.first_wrong.cpu(), "kept": {k: v.cpu() for k, v in batch.kept.items()},
                   "outcomes": json.dumps(batch.outcomes), "counts": dict(batch.counts), "drew": batch.drew,
                   "attack_seconds": batch.attack_seconds, "tracking_seconds": batch.tracking_seconds,
                   "peak_bytes": batch.peak_bytes}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(self._path(b), buffer.getvalue())

    def load(self, b: int, device: torch.device | str = "cpu") -> AttackedBatch | None:
        """Batch b as attacked before in this environment, or None (never attacked, unreadable, or made by
        other code or on another machine)."""
        path = self._path(b)
        if not path.is_file():
            return None
        try:
            p = torch.load(path, map_location="cpu", weights_only=True)
            if p.get("fingerprint") != self.fingerprint:
                return None
            return AttackedBatch(p["x_adv"].to(device), p["first_wrong"], dict(p["kept"]),
                                 json.loads(p["outcomes"]), dict(p["counts"]), bool(p["drew"]),
                                 float(p["attack_seconds"]), float(p["tracking_seconds"]), p["peak_bytes"])
        except Exception:  # noqa: BLE001 - a torn or foreign file is recomputed, never trusted
            return None

    def usable(self, batches: int) -> int:
        """How many of the first ``batches`` batches this environment can reuse."""
        return sum(self.load(b) is not None for b in range(batches))

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            self.folder.parent.rmdir()  # the .batches folder, once no other cell has batches in it
        except OSError:
            pass
