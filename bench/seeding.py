"""Seeded generators: every random draw in scrbench comes from one of these.

A cell's randomness is split by purpose (``make_generator(seed, "attack")``, ``(seed, "eval-adv")`` …) so
that each stream depends only on the cell's seed and its purpose, never on what ran before it in the
process: a resumed run reproduces the numbers of an uninterrupted one.

What defines *content-addressed* things (the synth-digits clips, the evaluation subset and so the cell ids)
draws from ``PortableRandom`` instead: torch's CPU sampling kernels differ between CPU types (float32
``torch.randn`` gives other numbers under AVX2 than under the scalar kernel), so their values are not
defined independently of the machine. ``PortableRandom`` turns the raw 64-bit words of PCG64 (O'Neill 2014;
numpy's ``PCG64`` bit generator, whose raw stream is fixed by the algorithm and its seeding) into numbers by
integer arithmetic only, so every draw is the same on any CPU, OS and numpy version.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def derive_seed(seed: int, *purpose: str | int) -> int:
    """A 63-bit seed from ``seed`` and a purpose path, stable across processes and machines."""
    text = "/".join([str(seed), *map(str, purpose)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


def make_generator(seed: int, *purpose: str | int, device: torch.device | str = "cpu") -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, *purpose))
    return generator


class PortableRandom:
    """A seeded stream whose every value is defined by integer arithmetic on PCG64's raw output."""

    _IRWIN_HALL = 12  # uniforms summed per Gaussian draw: variance 12 × 1/12 = 1

    def __init__(self, seed: int, *purpose: str | int):
        self._bits = np.random.PCG64(derive_seed(seed, *purpose))

    def words(self, n: int) -> np.ndarray:
        """``n`` raw uint64 words."""
        return np.asarray(self._bits.random_raw(n), dtype=np.uint64).reshape(n)

    def uniform(self, n: int) -> np.ndarray:
        """``n`` float64 in [0, 1): the top 53 bits of each word times 2^-53 (exact)."""
        return (self.words(n) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def normal(self, n: int) -> np.ndarray:
        """``n`` float64 of mean 0 and variance 1, approximately Gaussian: the Irwin–Hall sum of 12 uniforms
        minus 6, summed as integers (12 uniforms of 16 bits from 3 words) so the value is exact; bounded at
        ±6 σ, which a recording's noise floor does not miss."""
        parts = self.words(3 * n).reshape(n, 3)
        total = np.zeros(n, dtype=np.int64)
        for shift in (0, 16, 32, 48):
            total += ((parts >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.int64).sum(axis=1)
        return (total - 6 * 65536 + 6).astype(np.float64) / 65536.0  # each 16-bit uniform is (k + 0.5) / 2^16

    def permutation(self, n: int) -> list[int]:
        """A uniformly random order of ``range(n)``: indices sorted by one random word each (ties, of
        probability ~n²/2^65, keep index order)."""
        return np.argsort(self.words(n), kind="stable").tolist()
