"""Seeded generators: every random draw in scrbench comes from one of these.

A cell's randomness is split by purpose (``make_generator(seed, "attack")``, ``(seed, "eval-adv")`` …) so
that each stream depends only on the cell's seed and its purpose, never on what ran before it in the
process: a resumed run reproduces the numbers of an uninterrupted one.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *purpose: str | int) -> int:
    """A 63-bit seed from ``seed`` and a purpose path, stable across processes and machines."""
    text = "/".join([str(seed), *map(str, purpose)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & ((1 << 63) - 1)


def make_generator(seed: int, *purpose: str | int, device: torch.device | str = "cpu") -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, *purpose))
    return generator
