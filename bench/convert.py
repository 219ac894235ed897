"""Importing published checkpoints: map their tensors onto our modules and save a safe state dict + card.

Published layouts handled: DiffWave's ``{"model_state_dict": ..., "optimizer_state_dict": ...}`` dict and
the mel U-Net's plain improved-diffusion state dict (github.com/philsyn/DiffWave-unconditional;
github.com/openai/improved-diffusion), loaded with ``torch.load(weights_only=True)`` (tensors only, no code
runs); and the classifiers' whole pickled ``nn.Module`` files, possibly wrapped in DataParallel (AudioPure's
``audio_models/create_model.py``, github.com/cychomatica/AudioPure). Unpickling a module runs code from the
file, so it happens only when the caller passes ``trust_pickle`` (``--trust-pickle``), with a warning;
normal loading in scrbench never unpickles.
"""

from __future__ import annotations

import pickle
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.environment import code_version
from bench.errors import CheckpointError
from bench.frontend import frontend_spec
from bench.registry import REGISTRY
from bench.victim_loader import victim_frontend
from bench.weights import apply_state_dict, file_sha256, load_state_dict, save_weights


def strip_prefix(state: dict, prefix: str = "module.") -> dict:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


class _StubModule(nn.Module):
    """Stands in for a class of the pickling code that is not importable here: ``nn.Module.__setstate__``
    restores its submodules, parameters and buffers, which is all a state dict needs."""

    def forward(self, *args: Any) -> Any:
        raise RuntimeError("a stub of an unpickled module only carries its tensors")


class _StubUnpickler(pickle.Unpickler):
    stubs: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            key = (module, name)
            if key not in self.stubs:
                self.stubs[key] = type(name, (_StubModule,), {"__module__": module})
            return self.stubs[key]


_STUB_PICKLE = types.SimpleNamespace(Unpickler=_StubUnpickler, load=pickle.load, __name__="pickle")


def load_pickled_module(path: Path) -> dict[str, torch.Tensor]:
    """The float32 state dict of a whole pickled ``nn.Module`` (``torch.save(model)``), DataParallel unwrapped.
    Runs the file's pickle: call it only for files the user said they trust (the CLI warns)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_STUB_PICKLE)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"could not unpickle {path} ({' '.join(str(exc).split())[:160]})") from None
    if isinstance(obj, nn.DataParallel) or (isinstance(obj, nn.Module) and hasattr(obj, "module")
                                            and isinstance(obj.module, nn.Module)):
        obj = obj.module
    if isinstance(obj, nn.Module):
        state = obj.state_dict()
    elif isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj
    else:
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a module or a state dict")
    return {k: (v.float() if v.is_floating_point() else v) for k, v in strip_prefix(dict(state)).items()}


def convert_checkpoint(kind: str, name: str, config: str, source: Path, out: Path, trust_pickle: bool = False) -> Path:
    """Load ``source`` onto plugin ``name`` (``kind`` victim or denoiser) in ``config``; write
    ``out/<name>-<config>.safetensors`` and its card. A checkpoint that does not fit is a one-line error."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise CheckpointError(f"no checkpoint at {source}; check the path")
    try:
        state = strip_prefix(load_state_dict(source))
    except CheckpointError:
        if not trust_pickle:
            raise CheckpointError(f"{source} is not a tensors-only checkpoint (a pickled module?); unpickling "
                                  "runs code from the file: pass --trust-pickle if you trust its source") from None
        state = load_pickled_module(source)
    module: nn.Module = REGISTRY.get(kind, name).factory(config=config)
    apply_state_dict(module, state, str(source))
    card = {
        "kind": kind, "name": name, "arch": name, "config": config,
        **({"frontend": frontend_spec(victim_frontend(name))} if kind == "victim" else {}),  # what it expects
        "n_params": sum(p.numel() for p in module.parameters()),
        "converted_from": {"path": str(source), "sha256": file_sha256(source), "unpickled": trust_pickle},
        "command": f"bench convert {kind} {name} {source} --config {config}" + (" --trust-pickle" if trust_pickle
                                                                                else ""),
        "code": code_version(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return save_weights(module, Path(out) / f"{name}-{config}.safetensors", card)
