"""A minimal ctypes binding to the espeak-ng library that the ``espeakng-loader`` wheel bundles.

Synchronous mode: a callback collects the int16 chunks of one utterance at 22,050 Hz. The engine keeps
state between utterances that re-initialising does not reset, so output is reproducible only for a fixed
sequence of calls in a fresh process; ``bench.data._espeak_worker`` gives each voice its own process.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from bench.errors import DataError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER values
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Espeak:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise DataError("espeak-ng is missing; install it with `pip install espeakng-loader`") from None
        self.data_path = Path(espeakng_loader.get_data_path())
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise DataError("espeak-ng failed to initialise; reinstall espeakng-loader")
        self.lib.espeak_Info.restype = ctypes.c_char_p
        self.version = self.lib.espeak_Info(None).decode()
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept on self so ctypes does not free it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes.Array, n: int, events: ctypes.c_void_p) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def synth(self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50) -> np.ndarray:
        """int16 samples at ``self.sample_rate`` of ``text`` spoken by ``voice`` (e.g. ``en-us+m3``)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DataError(f"espeak-ng has no voice {voice!r}")
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range)):
            self.lib.espeak_SetParameter(parameter, int(value), 0)
        self._chunks = []
        encoded = text.encode()
        self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        if not self._chunks:
            raise DataError(f"espeak-ng produced no audio for {text!r} with voice {voice!r}")
        return np.concatenate(self._chunks)


def espeak_variants(exclude_breath: bool = True) -> tuple[list[str], str]:
    """The voice variants bundled with the library, and its version.

    Breathy variants draw random noise inside espeak-ng, which no seed controls, so they are left out.
    """
    import espeakng_loader

    names = []
    for path in sorted((Path(espeakng_loader.get_data_path()) / "voices" / "!v").iterdir()):
        lines = path.read_text(errors="replace").splitlines()
        if exclude_breath and any(line.strip().startswith("breath") for line in lines):
            continue
        names.append(path.name)
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Info.restype = ctypes.c_char_p
    return names, lib.espeak_Info(None).decode()
