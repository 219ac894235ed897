"""What every dataset plugin provides: clips of one split as a batch, with their IDs and a content hash."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

DIGITS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS: tuple[str, ...] = ("train", "valid", "test")


def scrbench_home() -> Path:
    """Cache root: ``$SCRBENCH_HOME``, else ``$XDG_CACHE_HOME/scrbench``, else ``~/.cache/scrbench``."""
    if os.environ.get("SCRBENCH_HOME"):
        return Path(os.environ["SCRBENCH_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "scrbench"


def build_platform() -> dict[str, str]:
    """What a data build ran on, kept beside its content hash to explain a hash that differs."""
    import platform

    import numpy

    return {"machine": platform.machine(), "system": platform.system(), "python": platform.python_version(),
            "numpy": numpy.__version__, "torch": torch.__version__.split("+")[0]}


@dataclass
class ClipSet:
    """Clips of one split: waves (N, 1, 16000) float32 in [-1, 1], labels (N,) int64, in ``ids`` order."""

    ids: list[str]
    waves: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int]) -> ClipSet:
        idx = torch.as_tensor(list(index), dtype=torch.long)
        return ClipSet([self.ids[i] for i in idx.tolist()], self.waves[idx], self.labels[idx], self.classes)

    def content_hash(self) -> str:
        """sha256 over the ordered IDs, labels and samples: equal hashes mean equal evaluation data."""
        h = hashlib.sha256()
        waves = self.waves.detach().to("cpu", torch.float32).contiguous()
        for i, clip_id in enumerate(self.ids):
            h.update(f"{clip_id}\t{int(self.labels[i])}\n".encode())
            h.update(waves[i].numpy().tobytes())
        return h.hexdigest()


class Dataset(ABC):
    """A dataset plugin. Its ``__init__`` keyword parameters are its options (``-o data.key=value``)."""

    classes: tuple[str, ...] = DIGITS
    splits: tuple[str, ...] = SPLITS

    @abstractmethod
    def prepare(self, progress: bool = True) -> None:
        """Build or check the data on disk, so that ``load`` can run; idempotent."""

    @abstractmethod
    def load(self, split: str) -> ClipSet:
        """All clips of ``split``, in a fixed order."""

    def spec_params(self, params: dict) -> dict:
        """The parameters that identify the data in a result (the split's content hash pins the clips)."""
        return params

    def provenance(self) -> dict[str, Any]:
        """Where the clips came from, kept in each record as information (not part of a cell's identity:
        a folder's path or a build's machine does not change the clips)."""
        return {}

    def not_reference(self) -> str | None:
        """Why results on this data are not comparable with the committed reference results, or None."""
        return None

    def check_split(self, split: str) -> None:
        from bench.errors import DataError

        if split not in self.splits:
            raise DataError(f"unknown split {split!r}; valid: {', '.join(self.splits)}")
