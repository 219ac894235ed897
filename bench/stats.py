"""Mean and sample standard deviation: the one definition every summary and table uses."""

from __future__ import annotations

import math
from collections.abc import Sequence


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

    table = np.asarray(scores, dtype=np.float64)
    per_clip = table.mean(axis=0)
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
