"""Wave2Mel: the victims' input features, exactly as the released AudioPure/DualPure code computes them.

torchaudio ``MelSpectrogram(n_fft=2048, hop_length=512, n_mels=32, norm="slaney", mel_scale="slaney",
pad_mode="constant")`` followed by ``AmplitudeToDB(stype="power")`` with no ``top_db``: absolute dB
(10·log10 of the power, floored at -100 dB), shape (B, 1, 32, 32) for 1 s at 16 kHz
(``adaptive_attack_eval.py`` of github.com/cychomatica/AudioPure and github.com/Sec4ai/DualPure; Wu et al.,
ICLR 2023; Tan et al., Interspeech 2024). Differentiable end to end.

A victim names its frontend when it registers (``@register("victim", name, frontend=Wave2Mel)``; a victim
that names none gets ``DEFAULT_FRONTEND``); training, the defended model, transfer surrogates and ``bench
perf`` take it from there (``bench.victim_loader.victim_frontend``). ``spec`` describes a frontend for a
weights card, so the card says which features the weights were trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torchaudio
from torch import Tensor, nn

SAMPLE_RATE = 16_000
NUM_SAMPLES = 16_000


class Wave2Mel(nn.Module):
    """(B, 1, T) waveform → (B, 1, n_mels, frames) absolute-dB mel spectrogram."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 32):
        super().__init__()
        self.settings = {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels}
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


    def spec(self) -> dict[str, Any]:
        """What a weights card records: the name and every parameter that shapes the features."""
        return {"name": "wave2mel", **self.settings, "norm": "slaney", "db": "absolute"}


Frontend = Callable[[], nn.Module]  # a zero-argument factory of the wave → classifier-input module
DEFAULT_FRONTEND: Frontend = Wave2Mel  # every shipped victim's features, and the mel denoisers' domain
FRONTEND_ATTR = "input_frontend"  # the frontend factory a victim's built classifier carries


def classifier_frontend(classifier: nn.Module) -> nn.Module:
    """A fresh frontend for ``classifier``: the factory a victim's classifier carries from its registration
    (``bench.victim_loader.build_classifier``), else ``DEFAULT_FRONTEND``."""
    return getattr(classifier, FRONTEND_ATTR, DEFAULT_FRONTEND)()


def frontend_spec(frontend: nn.Module) -> dict[str, Any]:
    """``frontend.spec()`` where it has one, else its class name: the card's ``frontend`` field."""
    spec = getattr(frontend, "spec", None)
    return spec() if callable(spec) else {"name": type(frontend).__qualname__}
