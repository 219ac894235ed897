"""The statistics every summary, table and finding uses: mean and sample std, the clip bootstrap interval of
one cell, the paired bootstrap interval of two cells' difference, and a claim's verdict from it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value) of a non-empty sequence."""
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def clip_bootstrap(scores: Sequence[Sequence[float]], level: float = 0.95, resamples: int = 4000,
                   seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval, in percent, of per-clip scores ``scores[seed][clip]`` (the same
    clips under every seed): clips are resampled with all their seeds (Efron & Tibshirani 1993, §6), so the
    interval covers the variation over clips and over seeds. Reproducible under ``seed``."""
    import numpy as np

    return _bootstrap(np.asarray(scores, dtype=np.float64).mean(axis=0), level, resamples, seed)


def _bootstrap(per_clip: Any, level: float, resamples: int, seed: int) -> tuple[float, float, float]:
    """100 × the mean of ``per_clip`` and its percentile interval over ``resamples`` resamplings of the clips."""
    import numpy as np

    draws = np.random.default_rng(seed).integers(0, len(per_clip), size=(resamples, len(per_clip)))
    means = per_clip[draws].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return 100 * float(per_clip.mean()), 100 * float(low), 100 * float(high)


def interval_or_none(scores: Sequence[Sequence[float] | None]) -> tuple[float, float, float] | None:
    """``clip_bootstrap`` of per-seed per-clip scores, or None when a seed has none stored (a migrated record)
    or the seeds cover different numbers of clips: no interval rather than one over unmatched clips."""
    if not scores or any(s is None for s in scores) or len({len(s) for s in scores}) != 1:
        return None
    return clip_bootstrap(scores)


def paired_bootstrap(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], level: float = 0.95,
                     resamples: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Mean difference ``first − second`` in percentage points, with its percentile bootstrap interval, of
    per-clip scores ``[seed][clip]`` measured on the same clips under the same seeds: each clip's difference
    averaged over the seeds, clips resampled with all their seeds, so the pairing removes the clip-to-clip
    variation both cells share (Efron & Tibshirani 1993, §6; the paired design of Dror et al. 2018)."""
    import numpy as np

    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"paired scores need one shape [seeds][clips]; got {a.shape} and {b.shape}")
    return _bootstrap((a - b).mean(axis=0), level, resamples, seed)


def verdict(low: float, high: float) -> str:
    """A directional claim's verdict from the interval of its effect (positive: as claimed): *shown* when the
    interval lies above zero, *contradicted* when below, *not shown* when it contains zero."""
    return "shown" if low > 0 else "contradicted" if high < 0 else "not shown"
