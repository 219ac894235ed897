"""The defense contract."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn


class Defense(nn.Module):
    """A purifier around the victim's frontend; subclasses override one or both hooks.

    ``purify_wave`` maps (B, 1, T) waveforms in [-1, 1] to the same shape and range; ``purify_mel`` maps
    (B, 1, n_mels, frames) dB mel spectrograms to the same shape. Both must stay differentiable (no
    ``no_grad``), and every random draw must come from ``generator``. ``gradient_mode`` says how gradients
    pass through: ``exact`` unless a defense offers a declared approximation (``adjoint``, ``bpda``), which
    the result then records, joined with the attack's own ``gradient_mode`` (e.g. ``adjoint+eot``). The
    ``__init__`` keyword parameters are the defense's options.
    """

    stochastic: ClassVar[bool] = False
    # every draw goes through ``bench.row_draws.randn`` (as ``defenses.diffusion.steps`` does), so a caller may
    # give each row its own stream (gradient grafting, fixed randomness); a plain torch.Generator is unchanged
    per_clip_draws: ClassVar[bool] = False
    gradient_mode: str = "exact"
    # Options added after records were made are left out of a cell's spec while they hold these values, so
    # those records keep their cell ids (as an attack records ``gradient`` only when eot does not say it all).
    spec_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def spec_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The resolved parameters that identify this defense in a cell's spec (``spec_defaults`` left out)."""
        return {k: v for k, v in params.items() if k not in cls.spec_defaults or cls.spec_defaults[k] != v}

    def purify_wave(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return wave

    def weights_info(self) -> dict[str, Any]:
        """The trained networks this defense loaded (name, configuration, file hash), recorded in results."""
        return {}

    def training_data(self) -> dict[str, str]:
        """For each trained network this defense loaded, the dataset its card says it was trained on (network
        label → dataset name; a card without one is left out): the run warns when it is not the run's data."""
        out = {}
        for value in vars(self).values():
            card = getattr(value, "card", None)
            trained_on = card.get("dataset", {}).get("name") if isinstance(card, dict) else None
            if trained_on:
                out[f"{getattr(value, 'name', 'network')} ({getattr(value, 'config', '?')})"] = trained_on
        return out

    def purify_mel(self, mel: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return mel
