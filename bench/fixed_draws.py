"""Fixed randomness: the defended model with one known purifier draw per clip.

The deterministic white-box of Liu et al., "Towards understanding the robustness of diffusion-based
purification: a stochastic perspective" (ICLR 2025): the attacker knows and fixes the purifier's random
draw, and the same draw classifies the final example. The gap between robust accuracy under this attack
and under the usual one (fresh draws) is how much of the robustness is randomness rather than purification.

Clip c's draw comes from its own stream, seeded by (cell seed, clip id), handed to the defense as
``RowGenerators``; so it is the same draw whatever the batch, the stacked copies or the pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bench.errors import BadParameter
from bench.row_draws import RowGenerators
from bench.seeding import derive_seed


def fixed_seeds(seed: int, clip_ids: Sequence[str]) -> list[int]:
    """Each clip's fixed-draw seed, from the cell's seed and the clip's id (not its position)."""
    return [derive_seed(seed, "fixed-draw", clip) for clip in clip_ids]


class FixedDraw(nn.Module):
    """``model`` whose every call on copies of the batch of clips ``seeds`` uses those clips' fixed draws;
    the ``generator`` a caller passes is ignored. Deterministic by construction."""

    stochastic = False

    def __init__(self, model: nn.Module, seeds: Sequence[int]):
        super().__init__()
        if not getattr(model, "per_clip_draws", True):
            raise BadParameter("fixed_randomness: this defense draws its noise for the whole batch, not per clip "
                               "(its draws do not go through bench.row_draws.randn); it cannot be fixed per clip")
        self.model, self.seeds = model, list(seeds)

    def rows(self, start: int, stop: int, model: nn.Module | None = None) -> FixedDraw:
        """The clips ``start:stop`` of this one (a batch), around ``model`` (default: the same model)."""
        return FixedDraw(self.model if model is None else model, self.seeds[start:stop])

    def _streams(self, wave: Tensor) -> RowGenerators:
        copies, rest = divmod(wave.shape[0], len(self.seeds))
        if rest or not copies:
            raise BadParameter(f"fixed_randomness: called on {wave.shape[0]} rows for a batch of {len(self.seeds)} "
                               "clips; the attack must pass whole copies of its batch")
        return RowGenerators(self.seeds * copies, wave.device)

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.model(wave, generator=self._streams(wave))

    def purify(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.model.purify(wave, self._streams(wave))

    def classify(self, mel: Tensor) -> Tensor:
        return self.model.classify(mel)
