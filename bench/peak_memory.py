"""Peak memory of one call, on any device: what ``bench perf`` reports as memory per clip.

On CUDA it is ``bench.memory.PeakMemory``: the allocator's peak (``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``) minus what was allocated when the call began (weights, inputs). On CPU there is
no allocator counter, so it is the process's resident set: the kernel's high-water mark ``VmHWM`` (reset to
the current RSS by writing ``5`` to ``/proc/self/clear_refs``, Linux ≥ 4.0) minus the RSS before the call.
Before the reset, ``malloc_trim(0)`` hands glibc's free heap back to the kernel, so memory freed by earlier
calls (warm-up) is not silently reused and hidden from the growth. Where ``clear_refs`` cannot be written
(not Linux, a locked-down /proc) the peak is ``getrusage``'s ``ru_maxrss``, which cannot be reset: a lower
bound, zero when the process peaked higher before. Every result names its ``method``, so a reader can tell
the allocator's bytes from RSS growth and from the lower bound.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.memory import PeakMemory

CUDA_METHOD = "cuda allocator: max_memory_allocated after reset_peak_memory_stats, minus allocated before"
RSS_METHOD = "cpu RSS: VmHWM after clear_refs=5 (and malloc_trim), minus RSS before"
RUSAGE_METHOD = "cpu RSS: getrusage ru_maxrss growth (not resettable: a lower bound)"
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _trim_heap() -> None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:  # not glibc: nothing to trim
        pass


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _maxrss_bytes() -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def peak_memory(fn: Callable[[], Any], device: torch.device, clips: int) -> dict[str, Any]:
    """Run ``fn`` once and measure the memory it added at its peak: ``peak_bytes``, ``baseline_bytes``
    (held before it), ``per_clip_bytes`` = (peak − baseline) / ``clips``, and the ``method`` (see above)."""
    if device.type == "cuda":
        with PeakMemory(device) as memory:
            fn()
        return {**memory.summary(clips), "method": CUDA_METHOD}
    if device.type != "cpu":  # MPS and others: no counter we can reset
        fn()
        return {"peak_bytes": None, "baseline_bytes": None, "per_clip_bytes": None, "device": device.type,
                "method": "not measured"}
    _trim_heap()
    if _reset_hwm():
        baseline = (_status_kib("VmRSS") or 0) * 1024
        fn()
        peak, method = (_status_kib("VmHWM") or 0) * 1024, RSS_METHOD
    else:
        baseline = _maxrss_bytes()
        fn()
        peak, method = _maxrss_bytes(), RUSAGE_METHOD
    return {"peak_bytes": peak, "baseline_bytes": baseline, "per_clip_bytes": round(max(0, peak - baseline) / clips),
            "device": device.type, "method": method}
