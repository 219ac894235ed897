"""Sanity checks recorded with every cell: randomness, gradients, finiteness, SNR.

They follow AutoAttack's automatic checks (Croce & Hein, ICML 2020; github.com/fra31/auto-attack,
autoattack/checks.py: ``check_randomized``, ``check_zero_gradients``) and the checklist of Carlini et al.,
"On Evaluating Adversarial Robustness" (arXiv:1902.06705, 2019). The budget and range of every adversarial
example are checked by ``attacks.base.check_budget``; these add what the result needs to be read honestly,
and warnings when it should not be trusted as it stands.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from attacks.losses import cross_entropy

QUERY_ONLY = {"nes", "transfer", "query"}  # modes that never use the target's gradient
PASSES = 3
LOW_SNR_DB = 20.0  # a median perturbation SNR below this: ε is large for the clips' level (a warning)


@torch.no_grad()
def is_randomized(model: Callable[..., Tensor], x: Tensor, generator: torch.Generator, passes: int = PASSES,
                  first: Tensor | None = None) -> bool:
    """Whether ``passes`` forward passes on the same input give different logits (AutoAttack's check_randomized);
    ``first``: the first pass's logits, when the caller already has them."""
    first = model(x, generator=generator) if first is None else first
    return any(not torch.allclose(first, model(x, generator=generator), rtol=1e-4, atol=1e-5, equal_nan=True)
               for _ in range(passes - 1))


def input_gradient(model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator) -> dict[str, Any]:
    """How many clips have an all-zero or a non-finite cross-entropy input gradient at the clean input.

    A defense that cuts the graph (its output does not depend on the input through autograd) counts as a
    zero gradient for every clip, with the reason in ``error``; any other error (out of memory, a bug in
    the model) propagates, since it says nothing about the gradient.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = cross_entropy(model(x, generator=generator), y).sum()
        grad = torch.autograd.grad(loss, x, allow_unused=True)[0] if loss.requires_grad else None
    if grad is None:
        return {"checked": len(x), "zero": len(x), "non_finite": 0,
                "error": "the loss does not depend on the input through autograd (the gradient is cut)"}
    flat = grad.flatten(1)
    finite = torch.isfinite(flat).all(1)
    return {"checked": len(x), "zero": int((finite & (flat == 0).all(1)).sum()), "non_finite": int((~finite).sum())}


def snr_db(x: Tensor, x_adv: Tensor) -> Tensor:
    """Per-clip signal-to-perturbation ratio 10·log10(‖x‖² / ‖δ‖²) in dB (float64; +inf when δ = 0)."""
    x64 = x.detach().double().flatten(1).cpu()
    delta = x_adv.detach().double().flatten(1).cpu() - x64
    return 10 * torch.log10(x64.pow(2).sum(1) / delta.pow(2).sum(1))


def snr_summary(snr: Tensor) -> dict[str, Any]:
    finite = snr[torch.isfinite(snr)]
    return {"mean": round(finite.mean().item(), 3) if len(finite) else None,
            "median": round(finite.quantile(0.5).item(), 3) if len(finite) else None,
            "min": round(finite.min().item(), 3) if len(finite) else None,
            "unperturbed": int((snr == math.inf).sum())}


def clip_levels(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-clip peak max|x| and RMS of clean clips (float64, on the CPU): what an absolute ε means depends on them."""
    x64 = x.detach().double().flatten(1).cpu()
    return x64.abs().amax(1), x64.pow(2).mean(1).sqrt()


def level_summary(peak: Tensor, rms: Tensor) -> dict[str, float | None]:
    """The median clip's peak and RMS: the level the run summary shows beside ε."""
    if not len(peak):
        return {"peak_median": None, "rms_median": None}
    return {"peak_median": round(peak.quantile(0.5).item(), 6), "rms_median": round(rms.quantile(0.5).item(), 6)}


def warnings(checks: dict[str, Any], declared_stochastic: bool, draws_per_gradient: int, mode: str) -> list[str]:
    """One line per problem a reader of the cell must know about; ``draws_per_gradient`` is the attack's
    (the fresh draws of the defense averaged into each gradient: its EOT sample count)."""
    out = []
    if checks["randomized"] and draws_per_gradient == 1 and mode not in QUERY_ONLY and mode != "fixed":
        out.append(f"the defense is randomized ({PASSES} forward passes differ) while the attack uses EOT = 1: "
                   "each gradient follows one random draw; use --eot (e.g. 20)")
    if checks["randomized"] and not declared_stochastic:
        out.append("the defense declares itself deterministic but its forward passes differ")
    gradient = checks["input_gradient"]
    if gradient["zero"]:
        out.append(f"the input gradient is zero at the start for {gradient['zero']} of {gradient['checked']} clips "
                   "(masked or cut gradients): gradient attacks cannot move them")
    if gradient["non_finite"]:
        out.append(f"the input gradient is NaN/Inf at the start for {gradient['non_finite']} of "
                   f"{gradient['checked']} clips")
    median_snr = checks.get("snr_db", {}).get("median")
    if median_snr is not None and median_snr < LOW_SNR_DB:
        levels = checks.get("levels", {})
        level = (f" (median clip peak {levels['peak_median']:.3g}, RMS {levels['rms_median']:.3g})"
                 if levels.get("peak_median") is not None else "")
        out.append(f"the median perturbation SNR is {median_snr:.1f} dB, below {LOW_SNR_DB:g} dB: ε is loud for "
                   f"these clips{level}, so this budget is not the one the same ε gives on louder data (the "
                   "default data sits near 27 dB at ε = 0.002); lower --eps or raise the clips' level")
    if checks["non_finite_logits"]:
        out.append(f"the defended model gave non-finite logits on {checks['non_finite_logits']} adversarial clips")
    return out
