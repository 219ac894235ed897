"""``bench perf``: purification seconds per clip for each defense (the paper's Table 4), written as records.

What is timed is the defended model without its classifier, ``DefendedModel.purify``: wave → purify_wave → the
default victim's frontend (Wave2Mel) → purify_mel, under ``no_grad``, on 1 s clips. The frontend alone is the
``none`` row, so the purifiers' own cost is the difference. Warm-up calls are excluded; on CUDA the device is
synchronised before each clock read, because kernels run asynchronously and the clock would otherwise stop
before the work does.

One record per (defense, device type, batch): ``<defense>-<device>-b<batch>.perf.json``; measuring again
replaces it. ``bench report --perf DIR`` reads them into ``table4`` and finding (d).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from bench.environment import environment, resolve_device
from bench.errors import BadParameter
from bench.io import atomic_write_json
from bench.model import DefendedModel
from bench.params import jsonable
from bench.registry import REGISTRY
from bench.report.format import fmt_duration
from bench.victim_loader import victim_frontend

PERF_SCHEMA = 1
SUFFIX = ".perf.json"
DIFFUSION = ("audiopure", "ddpm", "diffrev", "oneshot", "dualpure")  # the paper's Table 4 rows
SAMPLES = 16000
VICTIM = "resnext29"  # whose frontend is timed: the default victim's


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int, device: torch.device) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones, device synchronised."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - started)
    return times


def measure(name: str, batch: int, repeats: int, device: torch.device, warmup: int = 2,
            seed: int = 0, victim: str = VICTIM) -> dict[str, Any]:
    """One perf record: seconds per clip of defense ``name`` (default parameters) at batch size ``batch``,
    around ``victim``'s frontend."""
    defense, params = REGISTRY.create("defense", name)
    # no classifier: purify never calls it, and timing it is not the defense's cost
    model = DefendedModel(torch.nn.Identity(), defense, victim_frontend(victim)).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    wave = (0.1 * torch.randn(batch, 1, SAMPLES, generator=generator, device=device)).clamp(-1, 1)

    @torch.no_grad()
    def purify() -> torch.Tensor:
        return model.purify(wave, generator)

    per_clip = [t / batch for t in time_calls(purify, repeats, warmup, device)]
    mean = sum(per_clip) / len(per_clip)
    std = math.sqrt(sum((t - mean) ** 2 for t in per_clip) / (len(per_clip) - 1)) if len(per_clip) > 1 else 0.0
    return {"kind": "perf", "schema": PERF_SCHEMA, "defense": name, "params": jsonable(params),
            "device": device.type, "batch": batch, "repeats": repeats, "warmup": warmup,
            "seconds_per_clip": {"mean": mean, "std": std, "min": min(per_clip), "runs": per_clip},
            "environment": environment(device),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def run_perf(defenses: Iterable[str] | None, batches: Iterable[int], repeats: int, device: str, out: Path,
             threads: int | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Measure every defense (default: every registered one) at every batch size on every device of
    ``device`` (comma separated); write and return the records."""
    names = list(defenses or REGISTRY.names("defense"))
    for name in names:
        REGISTRY.get("defense", name)  # one clear line for an unknown name, before any timing
    batches = sorted(set(batches))
    if not batches or batches[0] < 1 or repeats < 1:
        raise BadParameter("--batch and --repeats must be at least 1")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:  # the thread count is process-wide: restore it, so a caller's later work runs as before
        devices = [resolve_device(d.strip()) for d in device.split(",") if d.strip()]  # e.g. "cpu,cuda": both
        records = []
        for dev in devices:
            for name in names:
                for batch in batches:
                    record = measure(name, batch, repeats, dev)
                    atomic_write_json(Path(out) / f"{name}-{dev.type}-b{batch}{SUFFIX}", record)
                    s = record["seconds_per_clip"]
                    log(f"{name:<14} {dev.type:<5} batch {batch:>3}: {fmt_duration(s['mean'], s['std'])} per clip")
                    records.append(record)
    finally:
        torch.set_num_threads(previous)
    return records


def load_perf(folder: Path | None) -> list[dict[str, Any]]:
    """Every perf record under ``folder`` (recursively), in path order; none when it does not exist."""
    if folder is None or not Path(folder).is_dir():
        return []
    out = []
    for path in sorted(Path(folder).rglob(f"*{SUFFIX}")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("kind") == "perf" and record.get("schema") == PERF_SCHEMA:
            out.append(record)
    return out


def perf_lookup(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(defense, device, batch) → the newest record for it."""
    table: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: r.get("created", "")):
        table[(r["defense"], r["device"], int(r["batch"]))] = r
    return table
