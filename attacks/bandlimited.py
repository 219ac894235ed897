"""Band-limited PGD: PGD (with EOT or any estimator) whose perturbation lies in a frequency band."""

from __future__ import annotations

from typing import Any

from attacks.bands import BandLimitedNorm, check_band
from attacks.pgd import PGD
from attacks.restarts import RestartRule
from bench.errors import BadParameter
from bench.frontend import SAMPLE_RATE
from bench.registry import register


@register("attack", "bandlimited")
class BandLimited(PGD):
    """PGD whose perturbation lies in [low_hz, high_hz] (default below 1 kHz): DiffBreak's low-frequency attack.

    Kassis et al., NeurIPS 2025 (github.com/andrekassis/DiffBreak): diffusion purification removes
    low-frequency perturbations least, so the attacker keeps δ there. This is ``pgd`` (Madry et al., ICLR
    2018, Eq. 2; same options and defaults: L∞ ε = 0.002, 10 steps, step ε/5, sign step, ``eot``/``gradient``,
    restarts, ``fixed_randomness``) in a band-limited geometry (``attacks.bands.BandLimitedNorm``): each
    iterate band-passes the gradient estimate (rFFT mask at the data's 16 kHz) before the norm's step, then
    band-passes δ and projects it onto the ε-ball and [-1, 1]. The clamps re-introduce a little out-of-band
    content; the budget check is the judge. With the band [0, Nyquist] it is ``pgd`` to the bit.
    """

    def __init__(self, norm: str = "linf", eps: float | None = None, steps: int = 10, step_size: float | None = None,
                 random_start: bool = False, eot: int = 1, eot_batch: int | None = None, restarts: int = 1,
                 restart_by: RestartRule = "loss", restart_draws: int = 10, gradient: str | None = None,
                 fixed_randomness: bool = False, low_hz: float = 0.0, high_hz: float = 1000.0):
        check_band("bandlimited", low_hz, high_hz, SAMPLE_RATE)
        try:
            super().__init__(norm, eps, steps, step_size, random_start, eot, eot_batch, restarts, restart_by,
                             restart_draws, gradient, fixed_randomness)
        except BadParameter as exc:  # PGD's checks name PGD; say which attack the user asked for
            raise BadParameter(f"bandlimited: {exc}") from None
        self.low_hz, self.high_hz = float(low_hz), float(high_hz)
        self.geometry = BandLimitedNorm(self.geometry, self.low_hz, self.high_hz, SAMPLE_RATE)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "low_hz": self.low_hz, "high_hz": self.high_hz}

    def label(self) -> str:
        return f"{super().label()} band {self.low_hz:g}–{self.high_hz:g} Hz"
