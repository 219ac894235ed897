"""The peak memory of an attack, as part of what it costs (issue 15: cost is part of the result).

On CUDA, ``PeakMemory`` resets the device's peak statistics when its block starts and reads
``torch.cuda.max_memory_allocated`` when it ends: the most bytes PyTorch's allocator held at once during the
block, including what was already allocated when it began (the model's weights, the clean clips):
``baseline_bytes``. ``per_clip_bytes`` is what the block added on top of that, divided by the clips it held
at once (one batch): (peak − baseline) / clips. Elsewhere (CPU, MPS) every figure is None: a process's peak
RSS cannot be reset per cell, so a number there would mostly measure whatever ran before; the record says
``device`` so a reader can tell "not measured" from "zero".
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import torch


class PeakMemory:
    """``memory.start()``, the attack, ``memory.stop()`` (or ``with PeakMemory(device) as memory:``), then
    ``memory.summary(clips)``: the record's ``memory``."""

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.measured = self.device.type == "cuda"
        self.baseline_bytes: int | None = None
        self.peak_bytes: int | None = None
        self.earlier_peak: int | None = None  # the peak an earlier process saw for batches kept from it


    def start(self) -> None:
        """Reset the device's peak statistics; what is allocated now is the baseline."""
        if self.measured:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline_bytes = torch.cuda.memory_allocated(self.device)

    def stop(self) -> None:
        """Read the peak since ``start``."""
        if self.measured:
            torch.cuda.synchronize(self.device)
            self.peak_bytes = self.peak_so_far()

    def peak_so_far(self) -> int | None:
        """The peak since ``start`` (with ``include``'s), None where not measured."""
        if not self.measured:
            return None
        torch.cuda.synchronize(self.device)
        return max(torch.cuda.max_memory_allocated(self.device), self.earlier_peak or 0)

    def include(self, peak_bytes: int | None) -> None:
        """Count the peak an earlier process measured for a batch this one resumes after."""
        if self.measured and peak_bytes is not None:
            self.earlier_peak = max(self.earlier_peak or 0, peak_bytes)

    def __enter__(self) -> PeakMemory:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def summary(self, clips_at_once: int) -> dict[str, Any]:
        """``peak_bytes``, ``baseline_bytes``, ``per_clip_bytes`` (None where not measured) and ``device``."""
        per_clip = None
        if self.peak_bytes is not None and self.baseline_bytes is not None and clips_at_once > 0:
            per_clip = round((self.peak_bytes - self.baseline_bytes) / clips_at_once)
        return {"peak_bytes": self.peak_bytes, "baseline_bytes": self.baseline_bytes, "per_clip_bytes": per_clip,
                "device": self.device.type}
