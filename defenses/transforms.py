"""AudioPure's signal-processing baselines (Wu et al., ICLR 2023, Table 5; github.com/cychomatica/AudioPure,
``transforms/time_defense.py`` and ``frequency_defense.py``):
mean filter (AS), median filter (MS), down/up-sampling (DS), Butterworth low-pass (LPF) and band-pass (BPF).

All are deterministic and batched; gradients flow through each (the median's is the selected sample's, a
subgradient). Outputs are clamped to [−1, 1] like the released filters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from scipy import signal
from torch import Tensor

from bench.errors import BadParameter
from bench.frontend import SAMPLE_RATE
from bench.registry import register
from defenses.base import Defense


def _odd(name: str, kernel: int) -> int:
    if kernel < 1 or kernel % 2 == 0:
        raise BadParameter(f"{name}: kernel must be a positive odd number, got {kernel}")
    return kernel


@register("defense", "mean-filter")
class MeanFilter(Defense):
    """AS: moving average over `kernel` samples, zero padded (AudioPure's baseline; Yang et al. ICLR 2019)."""

    def __init__(self, kernel: int = 3):
        super().__init__()
        self.kernel = _odd("mean-filter", kernel)

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        weight = torch.full((1, 1, self.kernel), 1.0 / self.kernel, device=wave.device, dtype=wave.dtype)
        return F.conv1d(wave, weight, padding=self.kernel // 2).clamp(-1.0, 1.0)


@register("defense", "median-filter")
class MedianFilter(Defense):
    """MS: running median over `kernel` samples, zero padded (AudioPure's baseline; Yang et al. ICLR 2019)."""

    def __init__(self, kernel: int = 3):
        super().__init__()
        self.kernel = _odd("median-filter", kernel)

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        padded = F.pad(wave, (self.kernel // 2, self.kernel // 2))
        return padded.unfold(-1, self.kernel, 1).median(dim=-1).values.clamp(-1.0, 1.0)


@register("defense", "resample")
class DownUpSample(Defense):
    """DS: sinc down-sampling to ratio·16 kHz and back up (AudioPure's baseline; torchaudio resample)."""

    def __init__(self, ratio: float = 0.5):
        super().__init__()
        if not 0.0 < ratio < 1.0:
            raise BadParameter(f"resample: ratio must be in (0, 1), got {ratio}")
        self.ratio = ratio
        self.low_rate = int(SAMPLE_RATE * ratio)

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        low = AF.resample(wave, SAMPLE_RATE, self.low_rate)
        return AF.resample(low, self.low_rate, SAMPLE_RATE)[..., : wave.shape[-1]].clamp(-1.0, 1.0)


class _Butterworth(Defense):
    """A causal IIR Butterworth filter designed with scipy's ``buttord`` (pass ripple 3 dB, stop 40 dB) and
    applied with torchaudio's differentiable ``lfilter``, as the released code designs it."""

    btype = "low"

    def __init__(self, passband: float | list[float], stopband: float | list[float]):
        super().__init__()
        nyquist = SAMPLE_RATE / 2
        order, cutoff = signal.buttord([f / nyquist for f in _list(passband)], [f / nyquist for f in _list(stopband)],
                                       3, 40)
        b, a = signal.butter(order, cutoff, btype=self.btype)
        self.order = int(order)
        self.register_buffer("b", torch.tensor(b, dtype=torch.float64), persistent=False)
        self.register_buffer("a", torch.tensor(a, dtype=torch.float64), persistent=False)

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        # float64 inside: the band-pass poles sit close to the unit circle
        out = AF.lfilter(wave.double(), self.a, self.b, clamp=False)
        return out.to(wave.dtype).clamp(-1.0, 1.0)


def _list(value: float | list[float]) -> list[float]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@register("defense", "lowpass")
class LowPass(_Butterworth):
    """LPF: Butterworth low-pass, pass 4 kHz, stop 8 kHz, 3/40 dB (AudioPure's baseline; Kwon et al. 2019)."""

    btype = "low"

    def __init__(self, passband_hz: float = 4000.0, stopband_hz: float = 8000.0):
        if not 0 < passband_hz < stopband_hz <= SAMPLE_RATE / 2:
            raise BadParameter("lowpass: needs 0 < passband_hz < stopband_hz <= 8000")
        super().__init__(passband_hz, stopband_hz)
        self.passband_hz, self.stopband_hz = passband_hz, stopband_hz


@register("defense", "bandpass")
class BandPass(_Butterworth):
    """BPF: Butterworth band-pass 300–4000 Hz, stop 50/8000 Hz, 3/40 dB (AudioPure's baseline).

    Rajaratnam et al. 2018 as Wu et al. (ICLR 2023) ran it."""

    btype = "bandpass"

    def __init__(self, low_hz: float = 300.0, high_hz: float = 4000.0, stop_low_hz: float = 50.0,
                 stop_high_hz: float = 8000.0):
        if not 0 < stop_low_hz < low_hz < high_hz < stop_high_hz <= SAMPLE_RATE / 2:
            raise BadParameter("bandpass: needs 0 < stop_low_hz < low_hz < high_hz < stop_high_hz <= 8000")
        super().__init__([low_hz, high_hz], [stop_low_hz, stop_high_hz])
        self.low_hz, self.high_hz, self.stop_low_hz, self.stop_high_hz = low_hz, high_hz, stop_low_hz, stop_high_hz
