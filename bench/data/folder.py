"""folder: any keyword dataset kept as one folder per word, split by list files or by Speech Commands' hash rule.

The layout is Google Speech Commands' (Warden 2018, arXiv:1804.03209): ``ROOT/<word>/<speaker>_nohash_<k>.wav``,
with ``testing_list.txt`` and ``validation_list.txt`` naming the held-out files (``word/file.wav``, one a line);
every other clip of a chosen word is a training clip. Without lists, ``split_rule="hash"`` applies the rule the
dataset itself was split by (``which_set`` in tensorflow/examples/speech_commands/input_data.py).
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from bench.data.audio import level_name, parse_level, read_clip
from bench.data.base import ClipSet, Dataset
from bench.errors import BadParameter, DataError
from bench.registry import register

MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # tensorflow's speech_commands input_data.py
SPLIT_OF_LIST = {"test": "test_list", "valid": "valid_list"}


def hash_split(filename: str, valid_percent: int = 10, test_percent: int = 10) -> str:
    """``train``, ``valid`` or ``test`` by Speech Commands' rule: the SHA-1 of the speaker id (the file name
    before ``_nohash_``) modulo 2**27, as a percentage of 2**27 - 1, against the validation then test shares.

    tensorflow's ``which_set`` compares ``(h % 2**27) * (100.0 / (2**27 - 1)) < p`` in floats; this is the same
    comparison in exact integers, ``(h % 2**27) * 100 < p * (2**27 - 1)``, so every machine agrees."""
    speaker = re.sub(r"_nohash_.*$", "", Path(filename).name)
    h = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % (MAX_NUM_WAVS_PER_CLASS + 1)
    if h * 100 < valid_percent * MAX_NUM_WAVS_PER_CLASS:
        return "valid"
    if h * 100 < (valid_percent + test_percent) * MAX_NUM_WAVS_PER_CLASS:
        return "test"
    return "train"


def parse_words(words: str | None) -> tuple[str, ...] | None:
    """``"zero,one"`` as ``("zero", "one")``, in the given order; None stays None (every word folder)."""
    if words is None or not words.strip():
        return None
    chosen = tuple(w.strip() for w in words.split(","))
    if any(not w or w.startswith(("_", ".")) or "/" in w for w in chosen) or len(set(chosen)) != len(chosen):
        raise BadParameter(f"words={words!r} is not valid; give distinct folder names joined by commas, "
                           "e.g. -o data.words=yes,no,up")
    return chosen


@register("dataset", "folder")
class FolderDataset(Dataset):
    """Clips of 1 s at 16 kHz from one sub-folder per word (any sample rate, 16/24-bit PCM or float WAV).

    ``words``: comma-separated, their order is the class order; default every sub-folder, sorted, except
    ``_background_noise_`` and names starting with ``_`` or ``.``. ``split_rule="lists"`` reads ``test_list``
    and ``valid_list`` (listed files missing on disk are skipped and counted, unlisted ones are training clips);
    ``"hash"`` uses Speech Commands' speaker hash with ``valid_percent`` and ``test_percent``. ``normalize``
    (``peak:0.5``, ``rms:0.05``) scales each clip to that level; it is part of the data's identity.
    """

    name = "folder"
    can_split_by_hash = True  # configurations with fixed lists say so in their errors

    def __init__(self, root: str | None = None, words: str | None = None, test_list: str = "testing_list.txt",
                 valid_list: str = "validation_list.txt", split_rule: Literal["lists", "hash"] = "lists",
                 valid_percent: int = 10, test_percent: int = 10, normalize: str | None = None) -> None:
        if root is None:
            raise BadParameter(f"{self.name}: give the folder with -o data.root=PATH (one sub-folder per word)")
        if not (0 <= valid_percent and 0 <= test_percent and valid_percent + test_percent <= 100):
            raise BadParameter(f"{self.name}: valid_percent and test_percent must be >= 0 and add up to <= 100")
        self.root = Path(root).expanduser()
        self.words = parse_words(words)
        self.lists = {"test": test_list, "valid": valid_list}
        self.split_rule, self.percent = split_rule, {"valid": valid_percent, "test": test_percent}
        try:
            self.level = parse_level(normalize)
        except BadParameter as exc:
            raise BadParameter(f"{self.name}: {exc}") from None
        self._files: dict[str, list[str]] | None = None
        self._found: tuple[str, ...] | None = None
        self.missing_listed = 0

    @property
    def classes(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.words is not None:
            return self.words
        if self._found is None:
            if not self.root.is_dir():
                raise DataError(f"{self.name}: no folder at {self.root}; pass -o data.root=PATH")
            self._found = tuple(sorted(p.name for p in self.root.iterdir()
                                       if p.is_dir() and not p.name.startswith(("_", "."))))
            if not self._found:
                raise DataError(f"{self.name}: {self.root} has no word folders; it needs one sub-folder per word")
        return self._found

    def spec_params(self, params: dict) -> dict:
        # the root path is not identity (the split's content hash is); the words, the rule and the level are
        split: dict[str, Any] = ({"test_list": self.lists["test"], "valid_list": self.lists["valid"]}
                                 if self.split_rule == "lists" else
                                 {"valid_percent": self.percent["valid"], "test_percent": self.percent["test"]})
        return {"words": list(self.classes), "split_rule": self.split_rule, **split, **self._level_param()}

    def _level_param(self) -> dict[str, str]:
        return {"normalize": level_name(self.level)} if self.level else {}

    def provenance(self) -> dict[str, Any]:
        if self._files is None and self.root.is_dir():
            try:
                self._scan()
            except (DataError, OSError):  # prepare names the problem; provenance is information only
                pass
        return {"root": str(self.root), "missing_listed": self.missing_listed}

    def prepare(self, progress: bool = True) -> None:
        if not self.root.is_dir():
            raise DataError(f"{self.name}: no folder at {self.root}; pass -o data.root=PATH (the folder "
                            "holding one sub-folder per word)")
        missing = [w for w in self.classes if not (self.root / w).is_dir()]
        if self.split_rule == "lists":
            missing += [name for name in self.lists.values() if not (self.root / name).is_file()]
        if missing:
            fix = " (or -o data.split_rule=hash to split by speaker)" if self.can_split_by_hash else ""
            raise DataError(f"{self.name}: {self.root} lacks {', '.join(missing)}; it needs one folder per "
                            f"word and the two list files{fix}")
        self._scan()
        if self.missing_listed:
            print(f"warning: {self.name}: {self.missing_listed} file(s) named in the split lists are not in "
                  f"{self.root}; skipped", file=sys.stderr)

    def _read_list(self, split: str) -> set[str]:
        lines = (self.root / self.lists[split]).read_text().splitlines()
        return {line.strip().replace("\\", "/") for line in lines if line.strip()}

    def _scan(self) -> dict[str, list[str]]:
        """Each split's files (``word/name.wav``), sorted; counts listed files of chosen words not on disk."""
        if self._files is not None:
            return self._files
        words = set(self.classes)
        every = sorted(f"{w}/{p.name}" for w in words for p in (self.root / w).glob("*.wav")
                       if p.is_file() and not p.name.startswith("."))  # macOS leaves ._name.wav beside files
        if self.split_rule == "hash":
            split_of = {f: hash_split(f, self.percent["valid"], self.percent["test"]) for f in every}
        else:
            listed = {s: self._read_list(s) for s in self.lists}
            held = {f for names in listed.values() for f in names if f.split("/")[0] in words}
            self.missing_listed = len(held - set(every))
            split_of = {f: next((s for s in ("test", "valid") if f in listed[s]), "train") for f in every}
        self._files = {s: [f for f in every if split_of[f] == s] for s in self.splits}
        return self._files

    def files(self, split: str) -> list[str]:
        """Relative paths (``seven/0a2b400e_nohash_0.wav``) of the split's clips, sorted."""
        self.check_split(split)
        if self._files is None:
            self.prepare(progress=False)
        return self._scan()[split]

    def load(self, split: str) -> ClipSet:
        files = self.files(split)
        if not files:
            raise DataError(f"{self.name}: split {split!r} of {self.root} has no clips of {', '.join(self.classes)}")
        waves = np.empty((len(files), 1, 16_000), np.float32)
        for i, rel in enumerate(tqdm(files, desc=f"{self.name} {split}", unit="clip", disable=len(files) < 2000)):
            waves[i, 0] = read_clip(self.root / rel, level=self.level)
        index = {w: c for c, w in enumerate(self.classes)}
        labels = torch.tensor([index[f.split("/")[0]] for f in files], dtype=torch.long)
        ids = [f.removesuffix(".wav") for f in files]
        return ClipSet(ids, torch.from_numpy(waves), labels, self.classes)
