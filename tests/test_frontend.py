"""Wave2Mel against an independent NumPy computation of the released features and torchaudio's own."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from bench.frontend import Wave2Mel


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def reference_features(wave: np.ndarray, sr: int = 16000, n_fft: int = 2048, hop: int = 512, n_mels: int = 32):
    """librosa-style slaney mel of a zero-padded, centred STFT with a periodic Hann window, in absolute dB."""
    padded = np.pad(wave, n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[i : i + n_fft] * window for i in range(0, len(padded) - n_fft + 1, hop)], axis=1)
    power = np.abs(np.fft.rfft(frames, axis=0)) ** 2
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sr / 2), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = mel_points[m : m + 3]
        fb[m] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
        fb[m] *= 2.0 / (hi - lo)  # slaney area normalisation
    return 10 * np.log10(np.maximum(fb @ power, 1e-10))


def test_matches_independent_numpy_reference():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(16000) / 16000
    wave = 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.01 * torch.randn(16000, generator=g)
    ours = Wave2Mel()(wave.view(1, 1, -1).float())[0, 0].double().numpy()
    ref = reference_features(wave.double().numpy())
    assert ours.shape == (32, 32)
    assert np.abs(ours - ref).max() < 1e-2  # dB; float32 vs float64


def test_matches_torchaudio_transform_with_spec_parameters():
    wave = torch.randn(3, 1, 16000) * 0.1
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=2048, hop_length=512, n_mels=32, norm="slaney",
                                               mel_scale="slaney", pad_mode="constant")
    expected = torchaudio.transforms.AmplitudeToDB("power")(mel(wave))
    torch.testing.assert_close(Wave2Mel()(wave), expected)


def test_shape_floor_and_gradient():
    wave = torch.zeros(2, 1, 16000)
    wave[1, 0, 4000:8000] = 0.5 * torch.randn(4000)
    wave.requires_grad_(True)
    mel = Wave2Mel()(wave)
    assert mel.shape == (2, 1, 32, 32)
    assert mel[0].min().item() == -100.0  # absolute dB, floor 1e-10 power: no top_db, no ref=max
    mel[1].sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all() and wave.grad[1].abs().sum() > 0
