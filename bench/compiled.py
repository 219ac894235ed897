"""Compiled execution: the defended model's networks under ``torch.compile``, the same numbers within float tolerance.

``compile_stages(model, device)`` compiles, in place, the networks of a ``DefendedModel``: its classifier and
every parameter-holding child module of its defense (the ε-networks the diffusion defenses hold as ``net``:
DiffWave, the mel U-Net). The stage functions themselves (``purify``, ``classify``, the defenses' recipes)
stay eager, for three reasons:

- every random draw stays where it is, outside the compiled graphs (``defenses.diffusion.steps`` draws before
  and between network calls), so a seeded ``torch.Generator`` or per-row ``bench.row_draws.RowGenerators``
  gives the same draws as eager, and a network call is a pure function of its inputs;
- the recipes hold Python control flow (torchsde's solver loop, gradient modes, checkpointing) that dynamo
  would break on or specialise for every step count;
- the frontend is left eager: torchaudio's spectrogram calls ``torch.jit.isinstance``, which dynamo refuses to
  trace (a graph break at ``torchaudio/functional/functional.py`` ``_get_spec_norms``), and inductor has no
  code generation for the complex STFT it then meets (it falls back to eager), so compiling it costs compile
  time and buys nothing.

Modes: on CUDA ``reduce-overhead`` (CUDA graphs, recorded per input shape), elsewhere the default mode;
``dynamic=None`` everywhere (static first, dynamic shapes after a second batch size, so an attack's last
short batch or EOT's stacked copies recompile at most once). CUDA graphs replay into the same output
buffers, so on CUDA each compiled network's output is copied out of the graph's pool before it is returned;
otherwise a stored output (a list of logits over draws under ``no_grad``) would be overwritten by the next
replay.

Weights, buffers, ``state_dict`` keys and module identity are unchanged (the compiled function is the
module's ``forward``); compile a model last, after any ``copy.deepcopy`` of its parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.model import DefendedModel

COMPILED_ATTR = "_bench_compiled"  # set on each module compile_stages compiled (idempotence, and for tests)
# Dynamo caches graphs per code object: one network class meets both grad modes (attack steps and no_grad
# evaluation), a static and a dynamic batch, and several configurations in one process. Past torch's
# default limit (8) it silently runs the network eagerly, which would make "compiled" timings eager ones.
RECOMPILE_LIMIT = 64


def _mode(device: torch.device) -> str | None:
    return "reduce-overhead" if device.type == "cuda" else None


def compile_settings(device: torch.device | str, backend: str = "inductor") -> dict[str, Any]:
    """What ``compile_stages`` passes to ``torch.compile`` on ``device``, for a record to say how it ran."""
    device = torch.device(device)
    return {"backend": backend, "mode": (_mode(device) if backend == "inductor" else None) or "default",
            "dynamic": None, "networks": "classifier and the defense's parameter-holding children"}


def compiled_networks(model: DefendedModel) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs ``compile_stages`` compiles: the classifier and each direct child of the
    defense that holds parameters (its ε-networks; a parameter-free child such as the noise schedule is
    arithmetic on Python step numbers, nothing to compile)."""
    nets = [("classifier", model.classifier), *((f"defense.{name}", child)
                                                 for name, child in model.defense.named_children())]
    return [(name, module) for name, module in nets if next(module.parameters(), None) is not None]


def _copied_out(forward: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        out = forward(*args, **kwargs)
        return out.clone() if isinstance(out, torch.Tensor) else out

    return call


def compile_stages(model: DefendedModel, device: torch.device | str, backend: str = "inductor") -> DefendedModel:
    """``model`` with its classifier and its defense's networks compiled in place (see the module docstring);
    returns the same object. Compilation itself happens lazily, on each network's first call. ``backend``
    is ``torch.compile``'s (``aot_eager`` traces the same graphs without inductor's code generation: a
    quick check of the tracing, or a way to tell an inductor numerics problem from a tracing one)."""
    device = torch.device(device)
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    for _, module in compiled_networks(model):
        if getattr(module, COMPILED_ATTR, False):
            continue
        mode = _mode(device) if backend == "inductor" else None  # modes are inductor's options
        forward = torch.compile(module.forward, backend=backend, mode=mode, dynamic=None)
        # an instance attribute, so nn.Module.__call__ (hooks included) runs eagerly around the compiled graph
        module.forward = _copied_out(forward) if device.type == "cuda" else forward
        setattr(module, COMPILED_ATTR, True)
    return model
