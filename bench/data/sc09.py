"""Google Speech Commands as configurations of the ``folder`` dataset: ``sc09`` (the ten digit words) and
``speech-commands`` (every word of v0.01 or v0.02), read from the official archive's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from bench.data.base import DIGITS, scrbench_home
from bench.data.folder import FolderDataset
from bench.errors import DataError
from bench.registry import register

# Warden 2018 (arXiv:1804.03209), table of words: v0.01 has 30, v0.02 adds five more
WORDS_V001: tuple[str, ...] = tuple(sorted(DIGITS + (
    "bed", "bird", "cat", "dog", "down", "go", "happy", "house", "left", "marvin", "no", "off", "on", "right",
    "sheila", "stop", "tree", "up", "wow", "yes")))
WORDS_V002: tuple[str, ...] = tuple(sorted(WORDS_V001 + ("backward", "follow", "forward", "learn", "visual")))
WORDS = {"v0.01": WORDS_V001, "v0.02": WORDS_V002}


class _SpeechCommands(FolderDataset):
    """A fixed word set of Speech Commands, at ``root`` or fetched with torchaudio into ``$SCRBENCH_HOME/data``."""

    can_split_by_hash = False

    def _setup(self, root: str | None, version: str, download: bool, words: tuple[str, ...],
               normalize: str | None) -> None:
        self.version, self.download = version, download
        super().__init__(root=root or str(self._download_dir()), words=",".join(words), normalize=normalize)

    def spec_params(self, params: dict) -> dict:
        # where the folder lives does not change the clips; which clips it holds is the split's content hash
        return {"version": params["version"], **self._level_param()}

    def _download_dir(self) -> Path:
        return scrbench_home() / "data" / "SpeechCommands" / f"speech_commands_{self.version}"

    def prepare(self, progress: bool = True) -> None:
        if self.download and not (self.root / self.lists["test"]).is_file():
            import torchaudio

            if self.root != self._download_dir():
                raise DataError(f"{self.name}: use either -o root=PATH or -o download=true, not both")
            self.root.parent.parent.mkdir(parents=True, exist_ok=True)
            try:
                torchaudio.datasets.SPEECHCOMMANDS(
                    str(self.root.parent.parent), url=f"speech_commands_{self.version}", download=True
                )
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"{self.name}: download failed ({' '.join(str(exc).split())}); check the network "
                                "or download the archive yourself and pass -o root=PATH") from None
        if not self.root.is_dir():
            raise DataError(f"{self.name}: no Speech Commands folder at {self.root}; pass -o root=PATH "
                            f"(the folder holding {self.classes[0]}/ ... and testing_list.txt) or -o download=true")
        super().prepare(progress)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "version": self.version}


@register("dataset", "sc09")
class SC09(_SpeechCommands):
    """The digit subset of Google Speech Commands (v0.01 or v0.02), split by its testing/validation lists.

    ``root`` is a folder with one sub-folder per word plus ``testing_list.txt`` and ``validation_list.txt``
    (the layout of the official archive). Clips at any sample rate are resampled to 16 kHz, must be mono,
    and are right-padded or cropped to 16,000 samples, as AudioPure loads them (Warden 2018, arXiv:1804.03209;
    github.com/cychomatica/AudioPure). ``download=True`` fetches the archive with torchaudio into
    ``$SCRBENCH_HOME/data`` when ``root`` is not given. ``normalize`` as in ``folder``.
    """

    name = "sc09"

    def __init__(self, root: str | None = None, version: Literal["v0.01", "v0.02"] = "v0.01", download: bool = False,
                 normalize: str | None = None) -> None:
        self._setup(root, version, download, DIGITS, normalize)


@register("dataset", "speech-commands")
class SpeechCommands(_SpeechCommands):
    """Every word of Google Speech Commands (v0.01: 30 classes, v0.02: 35), sorted, split by its lists.

    Warden 2018, arXiv:1804.03209; ``_background_noise_`` and the README/LICENSE files are not clips.
    ``root``, ``download`` and ``normalize`` as in ``sc09``."""

    name = "speech-commands"

    def __init__(self, root: str | None = None, version: Literal["v0.01", "v0.02"] = "v0.01", download: bool = False,
                 normalize: str | None = None) -> None:
        self._setup(root, version, download, WORDS[version], normalize)
