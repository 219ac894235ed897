"""Safe weights: safetensors (or ``torch.load(weights_only=True)``) plus a JSON card describing them.

A card records how the weights were made (configuration, data hash, accuracy, the exact command), so a
result can say what it ran and a user can rebuild any shipped file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from bench.errors import CheckpointError
from bench.io import atomic_write_bytes, atomic_write_json

_REPO = Path(__file__).resolve().parent.parent
# Where the trained weights of each kind of network ship: <dir>/<name>-<config>.safetensors (+ .json card).
WEIGHTS_DIRS: dict[str, Path] = {"victim": _REPO / "victims" / "weights", "denoiser": _REPO / "defenses" / "weights"}


def shipped_weights(kind: str, name: str, config: str) -> Path | None:
    """The shipped weights file of network ``name`` in ``config``, or None when none ships."""
    folder = WEIGHTS_DIRS.get(kind)
    path = folder / f"{name}-{config}.safetensors" if folder else None
    return path if path is not None and path.is_file() else None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def card_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a tensors-only ``.pt``/``.pth`` file; never unpickles code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; check the path or train one (`bench train ...`)")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a tensors-only file ({' '.join(str(exc).split())[:160]}); "
            "re-download or retrain it"
        ) from None
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} is not a state dict of tensors")
    return state


def load_weights(model: nn.Module, path: str | Path) -> None:
    apply_state_dict(model, load_state_dict(path), str(path))


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` strictly into ``model``; a mismatch is one line naming the first offending key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        detail = (f"missing {missing[:2]}" if missing else f"unexpected {unexpected[:2]}" if unexpected
                  else f"shape mismatch at {mismatched[0]}: {tuple(state[mismatched[0]].shape)} vs "
                       f"{tuple(own[mismatched[0]].shape)}")
        raise CheckpointError(f"checkpoint {source} does not fit {type(model).__name__} ({detail}); "
                              "pick the configuration it was trained with (-o config=...)")
    model.load_state_dict(state)


def save_weights(model: nn.Module, path: str | Path, card: dict[str, Any]) -> Path:
    """Write ``path`` (.safetensors) atomically, then its card beside it with the file's sha256."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    atomic_write_bytes(path, tmp.read_bytes())
    tmp.unlink()
    atomic_write_json(card_path(path), {**card, "weights": path.name, "sha256": file_sha256(path)})
    return path


def read_card(weights: str | Path) -> dict[str, Any]:
    path = card_path(weights)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise CheckpointError(f"card {path} is not valid JSON; restore it or retrain the weights") from None
