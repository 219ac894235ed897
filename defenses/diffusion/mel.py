"""The mel diffusion model's input scale: dB mel linearly standardised to [−1, 1].

AudioPure's ``melspec_standardize`` (github.com/cychomatica/AudioPure): bounds [−100, 38.22] dB,
"calculated from full SC09"; the inverse is linear. The mel U-Net is trained and applied on this scale.
"""

from __future__ import annotations

from torch import Tensor

DB_MIN, DB_MAX = -100.0, 38.22


def standardize(db: Tensor) -> Tensor:
    """dB mel → [−1, 1] (values above DB_MAX map above 1; the released code does not clip here)."""
    return 2.0 * (db - DB_MIN) / (DB_MAX - DB_MIN) - 1.0


def unstandardize(m: Tensor) -> Tensor:
    return (m + 1.0) * (DB_MAX - DB_MIN) / 2.0 + DB_MIN
