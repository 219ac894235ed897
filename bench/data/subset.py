"""The evaluation subset: N test clips the bare victim classifies correctly, balanced per class, seeded.

The DualPure paper evaluates on "100 samples in the test set that the victim SCR model could recognize
correctly"; we pick them with a seeded generator and record the ordered IDs and their hash in every result.
A subset is exactly balanced (``n / C`` clips of each of the ``C`` classes), so ``n`` must be a positive
multiple of ``C``; an ``n`` that is not, or that the victim's correct clips cannot fill, is refused with one
line giving the values that work (rounding silently would unbalance a subset the help calls balanced).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bench.data.base import ClipSet
from bench.errors import BadParameter, DataError
from bench.seeding import PortableRandom


def correct_per_class(labels: Tensor, correct: Tensor, num_classes: int) -> list[int]:
    """How many clips of each class ``correct`` flags, in class order."""
    flags = torch.as_tensor(correct, dtype=torch.bool).cpu()
    return torch.bincount(labels.cpu()[flags], minlength=num_classes).tolist()


def largest_balanced_n(counts: Sequence[int]) -> int:
    """The largest ``n`` a balanced subset can have, given each class's count of usable clips
    (``correct_per_class``): ``C`` × the smallest count."""
    return len(counts) * min(counts)


def check_balanced_n(n: int, num_classes: int) -> None:
    """Refuse, naming the nearest valid values, an ``n`` that cannot be split evenly over the classes."""
    if n < 1:
        raise BadParameter(f"--n {n}: must be at least 1")
    if n % num_classes == 0:
        return
    below, above = n // num_classes * num_classes, (n // num_classes + 1) * num_classes
    use = f"--n {below} or --n {above}" if below else f"--n {above}"
    raise BadParameter(f"--n {n}: {num_classes} classes, so a balanced subset needs a multiple of {num_classes} "
                       f"(the same number of clips of each class); use {use}")


def shortage_message(clips: ClipSet, correct: Tensor, n: int, split: str) -> str:
    """Why no balanced subset of ``n`` exists: every class's count of correct clips, the victim's accuracy
    on the split, and the largest ``n`` that works."""
    num_classes = len(clips.classes)
    counts = correct_per_class(clips.labels, correct, num_classes)
    total, right = len(clips), sum(counts)
    short = [f"{clips.classes[c]!r}" for c, k in enumerate(counts) if k < n // num_classes]
    fewer = f"class {short[0]} has fewer" if len(short) == 1 else (
        f"classes {', '.join(short)} have fewer" if len(short) <= 3 else f"{len(short)} classes have fewer")
    per_class = ", ".join(f"{name} {k}" for name, k in zip(clips.classes, counts, strict=True))
    largest = largest_balanced_n(counts)
    fix = (f"the largest balanced subset is --n {largest}: use --n {largest}, or a better victim" if largest
           else "no balanced subset exists (a class has none); use a better victim")
    return (f"--n {n} needs {n // num_classes} correctly classified {split} clips of each class, but {fewer}: "
            f"correct per class: {per_class} (the victim classifies {right}/{total}, "
            f"{100.0 * right / max(total, 1):.1f} %, of the {split} split correctly); {fix}")


def select_eval_subset(clips: ClipSet, correct: Tensor, n: int, seed: int, split: str = "test") -> ClipSet:
    """``n`` clips with ``correct[i]`` true, ``n // C`` of each of the ``C`` classes, each class in the order
    of one seeded permutation of the split (``split`` names it in errors)."""
    num_classes = len(clips.classes)
    check_balanced_n(n, num_classes)
    quota = n // num_classes
    if min(correct_per_class(clips.labels, correct, num_classes)) < quota:
        raise DataError(shortage_message(clips, correct, n, split))
    order = PortableRandom(seed, "eval-subset").permutation(len(clips))  # the subset defines cell ids
    chosen: list[list[int]] = [[] for _ in range(num_classes)]
    for i in order:  # kept as it was: the same subsets (and cell ids) as before for every valid n
        c = int(clips.labels[i])
        if correct[i] and len(chosen[c]) < quota:
            chosen[c].append(i)
    return clips.subset([i for per_class in chosen for i in per_class])
