"""Reading clips safely: every bad file becomes one line that names the file, the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from bench.errors import DataError
from bench.frontend import NUM_SAMPLES, SAMPLE_RATE


def fix_length(wave: np.ndarray, num_samples: int = NUM_SAMPLES) -> np.ndarray:
    """Crop, or right-pad with zeros, to ``num_samples`` (released_code_spec §1.2)."""
    if len(wave) >= num_samples:
        return wave[:num_samples]
    return np.pad(wave, (0, num_samples - len(wave)))


def resample(wave: np.ndarray, orig_rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    if orig_rate == new_rate:
        return wave
    out = torchaudio.functional.resample(torch.from_numpy(wave), orig_rate, new_rate)
    return out.numpy().astype(np.float32)


def read_clip(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    num_samples: int = NUM_SAMPLES,
    allow_resample: bool = True,
) -> np.ndarray:
    """A mono clip as float32 in [-1, 1], resampled to ``sample_rate`` and fixed to ``num_samples``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing audio file {path}; check the dataset folder or rebuild it")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
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
    return fix_length(wave, num_samples)
