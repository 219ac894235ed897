"""Per-clip random streams: one ``torch.Generator`` per batch row, so a row's draw can be replayed alone.

A defense draws its noise for a whole batch from one ``torch.Generator``: row b's noise depends on the rows
before it and on the batch size. Two attacks need a clip's draw to be its own:

- gradient grafting (DiffHammer, Wang et al., NeurIPS 2024) purifies N draws of every clip, picks per clip
  the draw to backpropagate through, and must replay exactly that draw for that clip;
- fixed randomness (Liu et al., ICLR 2025) fixes one known draw per clip for the whole attack and the final
  evaluation, whatever the batch, the EOT copies or the subset of clips an attack works on.

``RowGenerators`` is what such a caller hands the defended model as its ``generator``; the shared noise
draws of the defenses (``defenses.diffusion.steps``) call ``randn``, which serves a ``torch.Generator``
exactly as before and a ``RowGenerators`` row by row (a loop over rows of a random draw only, never of a
network call). A plain ``torch.Generator`` keeps every existing stream bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bench.errors import BadParameter

SEED_BOUND = 1 << 62


class RowGenerators:
    """One seeded generator per batch row; ``replay`` gives fresh generators that repeat the same draws."""

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu"):
        self.seeds = [int(s) for s in seeds]
        self.device = torch.device(device)
        self.generators = [torch.Generator(device=self.device).manual_seed(s) for s in self.seeds]

    @classmethod
    def drawn(cls, generator: torch.Generator, rows: int, device: torch.device | str = "cpu") -> RowGenerators:
        """``rows`` new streams whose seeds come from ``generator`` (so from the cell's seeded streams)."""
        seeds = torch.randint(0, SEED_BOUND, (rows,), generator=generator, device=generator.device)
        return cls(seeds.tolist(), device)

    def __len__(self) -> int:
        return len(self.seeds)

    def replay(self) -> RowGenerators:
        """Fresh streams from the same seeds: the same draws again, row for row."""
        return RowGenerators(self.seeds, self.device)

    def tiled(self, copies: int) -> RowGenerators:
        """Fresh streams for ``copies`` stacked copies of the batch (copy-major, as EOT stacks them)."""
        return RowGenerators(self.seeds * copies, self.device)

    def rows(self, index: Sequence[int]) -> RowGenerators:
        """Fresh streams for the rows ``index`` (in that order)."""
        return RowGenerators([self.seeds[i] for i in index], self.device)

    def randn(self, shape: Sequence[int], dtype: torch.dtype, device: torch.device, row_dim: int = 0) -> Tensor:
        """Standard normal values of ``shape``, slice ``row_dim`` = b drawn from row b's stream."""
        shape = list(shape)
        if shape[row_dim] != len(self):
            raise BadParameter(f"a per-clip draw for {shape[row_dim]} rows from {len(self)} clip streams; "
                               "the attack must call the defended model on whole copies of its batch")
        del shape[row_dim]
        return torch.stack([torch.randn(shape, generator=g, dtype=dtype, device=self.device).to(device)
                            for g in self.generators], dim=row_dim)


def randn(shape: Sequence[int], generator: torch.Generator | RowGenerators | None, dtype: torch.dtype,
          device: torch.device, row_dim: int = 0) -> Tensor:
    """A standard normal draw from a ``torch.Generator`` (unchanged) or per row from ``RowGenerators``."""
    if isinstance(generator, RowGenerators):
        return generator.randn(shape, dtype, device, row_dim)
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
