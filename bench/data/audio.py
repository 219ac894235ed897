"""Reading clips safely: every bad file becomes one line that names the file, the problem and the fix."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from bench.errors import BadParameter, DataError
from bench.frontend import NUM_SAMPLES, SAMPLE_RATE


def fix_length(wave: np.ndarray, num_samples: int = NUM_SAMPLES) -> np.ndarray:
    """Crop, or right-pad with zeros, to ``num_samples``, as AudioPure's loader does
    (github.com/cychomatica/AudioPure)."""
    if len(wave) >= num_samples:
        return wave[:num_samples]
    return np.pad(wave, (0, num_samples - len(wave)))


def resample(wave: np.ndarray, orig_rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    """torchaudio's windowed-sinc resampler, in the input's precision (float64 where the result defines data)."""
    if orig_rate == new_rate:
        return wave
    return torchaudio.functional.resample(torch.from_numpy(wave), orig_rate, new_rate).numpy()


def parse_level(text: str | None) -> tuple[str, float] | None:
    """``"peak:0.5"`` or ``"rms:0.05"`` as ``("peak", 0.5)``; None for None or ``""``; one line for anything else."""
    if text is None or not text.strip():
        return None
    mode, _, value = text.strip().partition(":")
    try:
        target = float(value)
    except ValueError:
        target = float("nan")
    if mode not in ("peak", "rms") or not 0.0 < target <= 1.0:
        raise BadParameter(f"normalize={text!r} is not valid; use peak:P or rms:R with 0 < P, R <= 1, "
                           "e.g. -o data.normalize=peak:0.5")
    return mode, target


def level_name(level: tuple[str, float]) -> str:
    """The canonical spelling of a level (``peak:0.5``), as recorded in a dataset's identity."""
    return f"{level[0]}:{level[1]!r}"


def set_level(wave: np.ndarray, level: tuple[str, float] | None) -> np.ndarray:
    """Scale a float64 clip to the level's peak or RMS (float64 arithmetic), then clip to [-1, 1] (a loud RMS
    target can push peaks past full scale); a silent clip (all zeros) is returned unchanged."""
    if level is None:
        return wave
    mode, target = level
    now = float(np.abs(wave).max()) if mode == "peak" else float(np.sqrt(np.mean(np.square(wave))))
    if now == 0.0:
        return wave
    return np.clip(wave * (target / now), -1.0, 1.0)


def wav_frames(path: Path) -> tuple[int, int] | None:
    """(frames a WAV's ``data`` chunk header declares, frames the file holds), or None where that cannot be
    told: not a RIFF WAV, a header that declares no size (streaming writers leave 0 or 0xFFFFFFFF there), an
    unreadable file (``sf.read`` then names the problem).

    libsndfile trusts the file size over the header, so only the header tells a cut-off file from a short one."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
                return None
            size = path.stat().st_size
            block_align, pos = 0, 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk, length = struct.unpack("<4sI", f.read(8))
                if chunk == b"fmt " and length >= 14:
                    block_align = struct.unpack("<H", f.read(14)[12:14])[0]
                elif chunk == b"data":
                    if not block_align or length in (0, 0xFFFFFFFF):
                        return None
                    return length // block_align, (size - pos - 8) // block_align
                pos += 8 + length + (length & 1)  # chunks are padded to an even length
    except (OSError, struct.error):
        return None
    return None


def read_clip(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    num_samples: int = NUM_SAMPLES,
    allow_resample: bool = True,
    level: tuple[str, float] | None = None,
) -> np.ndarray:
    """A mono clip as float32 in [-1, 1], resampled to ``sample_rate``, fixed to ``num_samples`` and, with
    ``level`` (from ``parse_level``), scaled to that peak or RMS over the fixed-length clip.

    Read and resampled in float64 (then rounded once to float32): float32 CPU kernels differ between CPU
    types, and these samples define the data's content hash."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing audio file {path}; check the dataset folder or rebuild it")
    frames = wav_frames(path)
    if frames is not None and frames[1] < frames[0]:  # libsndfile would read what is there, then zeros pad it
        raise DataError(f"{path} is truncated: its header promises {frames[0]} samples, the file holds {frames[1]}; "
                        "re-export or remove it")
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - soundfile raises several types
        raise DataError(f"cannot read {path} as audio ({' '.join(str(exc).split())}); replace or remove it") from None
    if data.shape[0] == 0:
        raise DataError(f"{path} is empty (0 samples); remove it or replace it with a real recording")
    if data.shape[1] != 1:
        raise DataError(
            f"{path} has {data.shape[1]} channels; scrbench expects mono: convert it, e.g. `sox in.wav -c 1 out.wav`"
        )
    wave = data[:, 0]
    if not np.isfinite(wave).all():
        raise DataError(f"{path} contains NaN or infinite samples; replace the file")
    if np.abs(wave).max() > 1.0:
        raise DataError(f"{path} has samples outside [-1, 1] (float WAV); rescale it to [-1, 1]")
    if rate != sample_rate:
        if not allow_resample:
            raise DataError(
                f"{path} is sampled at {rate} Hz, expected {sample_rate} Hz; resample it, "
                f"e.g. `sox in.wav -r {sample_rate} out.wav`"
            )
        wave = np.clip(resample(wave, rate, sample_rate), -1.0, 1.0)
    return set_level(fix_length(wave, num_samples), level).astype(np.float32)
