"""The interval every robust accuracy in the adaptive tables carries."""

from __future__ import annotations

from bench.stats import clip_bootstrap


def test_clip_bootstrap_interval_brackets_the_mean_and_narrows_with_clips():
    few = [[1, 0] * 10, [1, 1] * 10]  # 2 seeds × 20 clips
    many = [[1, 0] * 100, [1, 1] * 100]
    mean, low, high = clip_bootstrap(few)
    assert mean == 75.0 and low < mean < high
    _, low_many, high_many = clip_bootstrap(many)
    assert high_many - low_many < high - low
    assert clip_bootstrap([[1] * 10, [1] * 10]) == (100.0, 100.0, 100.0)
    assert clip_bootstrap(few, seed=3) == clip_bootstrap(few, seed=3)
