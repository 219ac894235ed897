"""sc09: the ten digit words of Google Speech Commands, read from its standard folder layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from bench.data.audio import read_clip
from bench.data.base import DIGITS, ClipSet, Dataset, scrbench_home
from bench.errors import DataError
from bench.registry import register

LISTS = {"test": "testing_list.txt", "valid": "validation_list.txt"}


@register("dataset", "sc09")
class SC09(Dataset):
    """The digit subset of Google Speech Commands (v0.01 or v0.02), split by its testing/validation lists.

    ``root`` is a folder with one sub-folder per word plus ``testing_list.txt`` and ``validation_list.txt``
    (the layout of the official archive). Clips at any sample rate are resampled to 16 kHz, must be mono,
    and are right-padded or cropped to 16,000 samples, as AudioPure loads them (Warden 2018, arXiv:1804.03209;
    github.com/cychomatica/AudioPure). ``download=True`` fetches the archive with torchaudio into
    ``$SCRBENCH_HOME/data`` when ``root`` is not given.
    """

    def __init__(self, root: str | None = None, version: Literal["v0.01", "v0.02"] = "v0.01", download: bool = False):
        self.version = version
        self.download = download
        self.root = Path(root).expanduser() if root else self._download_dir()

    def spec_params(self, params: dict) -> dict:
        # where the folder lives does not change the clips; which clips it holds is the split's content hash
        return {"version": params["version"]}

    def provenance(self) -> dict[str, Any]:
        return {"root": str(self.root)}

    def _download_dir(self) -> Path:
        return scrbench_home() / "data" / "SpeechCommands" / f"speech_commands_{self.version}"

    def prepare(self, progress: bool = True) -> None:
        if self.download and not (self.root / LISTS["test"]).is_file():
            import torchaudio

            if self.root != self._download_dir():
                raise DataError("sc09: use either -o root=PATH or -o download=true, not both")
            self.root.parent.parent.mkdir(parents=True, exist_ok=True)
            try:
                torchaudio.datasets.SPEECHCOMMANDS(
                    str(self.root.parent.parent), url=f"speech_commands_{self.version}", download=True
                )
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"sc09: download failed ({' '.join(str(exc).split())}); check the network "
                                "or download the archive yourself and pass -o root=PATH") from None
        if not self.root.is_dir():
            raise DataError(f"sc09: no Speech Commands folder at {self.root}; pass -o root=PATH "
                            "(the folder holding zero/ ... nine/ and testing_list.txt) or -o download=true")
        missing = [d for d in DIGITS if not (self.root / d).is_dir()]
        missing += [name for name in LISTS.values() if not (self.root / name).is_file()]
        if missing:
            raise DataError(f"sc09: {self.root} lacks {', '.join(missing)}; it must have the official "
                            "Speech Commands layout (one folder per word and the two list files)")

    def _read_list(self, split: str) -> set[str]:
        lines = (self.root / LISTS[split]).read_text().splitlines()
        return {line.strip() for line in lines if line.strip()}

    def files(self, split: str) -> list[str]:
        """Relative paths (``seven/0a2b400e_nohash_0.wav``) of the split's digit clips, sorted."""
        self.check_split(split)
        self.prepare()
        listed = {s: self._read_list(s) for s in LISTS}
        every = sorted(f"{d}/{p.name}" for d in DIGITS for p in (self.root / d).glob("*.wav"))
        if split in LISTS:
            return [f for f in every if f in listed[split]]
        held_out = listed["test"] | listed["valid"]
        return [f for f in every if f not in held_out]

    def load(self, split: str) -> ClipSet:
        files = self.files(split)
        if not files:
            raise DataError(f"sc09: split {split!r} of {self.root} has no digit clips")
        waves = np.empty((len(files), 1, 16_000), np.float32)
        for i, rel in enumerate(tqdm(files, desc=f"sc09 {split}", unit="clip", disable=len(files) < 2000)):
            waves[i, 0] = read_clip(self.root / rel)
        labels = torch.tensor([DIGITS.index(f.split("/")[0]) for f in files], dtype=torch.long)
        ids = [f.removesuffix(".wav") for f in files]
        return ClipSet(ids, torch.from_numpy(waves), labels, self.classes)
