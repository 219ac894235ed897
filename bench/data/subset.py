"""The evaluation subset: N test clips the bare victim classifies correctly, balanced per class, seeded.

The DualPure paper evaluates on "100 samples in the test set that the victim SCR model could recognize
correctly"; we pick them with a seeded generator and record the ordered IDs and their hash in every result.
"""

from __future__ import annotations

from torch import Tensor

from bench.data.base import ClipSet
from bench.errors import DataError
from bench.seeding import PortableRandom


def select_eval_subset(clips: ClipSet, correct: Tensor, n: int, seed: int) -> ClipSet:
    """``n`` clips with ``correct[i]`` true, ``n // C`` per class (the first ``n % C`` classes get one more),
    each class in the order of one seeded permutation of the split."""
    num_classes = len(clips.classes)
    if n < 1:
        raise DataError("--n must be at least 1")
    quota = [n // num_classes + (1 if c < n % num_classes else 0) for c in range(num_classes)]
    order = PortableRandom(seed, "eval-subset").permutation(len(clips))  # the subset defines cell ids
    chosen: list[list[int]] = [[] for _ in range(num_classes)]
    for i in order:
        c = int(clips.labels[i])
        if correct[i] and len(chosen[c]) < quota[c]:
            chosen[c].append(i)
    short = [(clips.classes[c], len(chosen[c]), quota[c]) for c in range(num_classes) if len(chosen[c]) < quota[c]]
    if short:
        name, have, want = short[0]
        raise DataError(f"only {have} correctly classified test clips of class {name!r} (need {want}); "
                        "lower --n or use a better victim")
    return clips.subset([i for per_class in chosen for i in per_class])
