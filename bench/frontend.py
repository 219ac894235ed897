"""Wave2Mel: the victims' input features, exactly as the released AudioPure/DualPure code computes them.

torchaudio ``MelSpectrogram(n_fft=2048, hop_length=512, n_mels=32, norm="slaney", mel_scale="slaney",
pad_mode="constant")`` followed by ``AmplitudeToDB(stype="power")`` with no ``top_db``: absolute dB
(10·log10 of the power, floored at -100 dB), shape (B, 1, 32, 32) for 1 s at 16 kHz
(``adaptive_attack_eval.py`` of github.com/cychomatica/AudioPure and github.com/Sec4ai/DualPure; Wu et al.,
ICLR 2023; Tan et al., Interspeech 2024). Differentiable end to end.
"""

from __future__ import annotations

import torchaudio
from torch import Tensor, nn

SAMPLE_RATE = 16_000
NUM_SAMPLES = 16_000


class Wave2Mel(nn.Module):
    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 32):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            norm="slaney",
            mel_scale="slaney",
            pad_mode="constant",
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)

    def forward(self, wave: Tensor) -> Tensor:
        """(B, 1, T) waveform in [-1, 1] → (B, 1, n_mels, frames) dB mel spectrogram."""
        return self.to_db(self.mel(wave))

