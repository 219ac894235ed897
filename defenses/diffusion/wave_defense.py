"""WaveDiffusionDefense, the base class of the DiffWave-based defenses: the schedule, the step count t, the
loaded ε-network; and ``checked_step``, the range check of a diffusion step parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bench.errors import BadParameter
from defenses.base import Defense
from defenses.diffusion.denoisers import load_denoiser
from defenses.diffusion.schedule import NoiseSchedule


def checked_step(name: str, value: int, schedule: NoiseSchedule) -> int:
    if not 1 <= value <= schedule.steps:
        raise BadParameter(f"{name}={value} is outside 1..{schedule.steps} (the diffusion schedule's steps)")
    return value


class WaveDiffusionDefense(Defense):
    """A waveform purifier built from the shared diffusion steps around DiffWave (or no network at all).

    Subclasses write ``purify_wave`` as a recipe of ``defenses.diffusion.steps``; the output is clamped to
    [−1, 1] so every defense keeps the waveform range (the released code leaves it unclipped; the clamp
    only touches samples within a few noise stds of full scale).
    """

    stochastic = True
    per_clip_draws = True
    uses_network = True

    def __init__(self, t: int, config: str = "slim", weights: str | Path | None = None):
        super().__init__()
        self.schedule = NoiseSchedule.linear()
        self.t = checked_step("t", t, self.schedule)
        self.denoiser = load_denoiser("diffwave", config, weights) if self.uses_network else None
        self.net = self.denoiser.net if self.denoiser is not None else None

    def weights_info(self) -> dict[str, Any]:
        return {"wave": self.denoiser.info()} if self.denoiser is not None else {}

    @staticmethod
    def in_range(wave: Tensor) -> Tensor:
        return wave.clamp(-1.0, 1.0)

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.in_range(self.recipe(wave, generator))

    def recipe(self, wave: Tensor, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError
