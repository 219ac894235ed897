"""Gradient modes of the diffusion purifiers: ``checkpoint`` is ``exact`` with bounded memory, ``surrogate``
keeps the output and takes a shorter purifier's gradient (Lee & Kim, ICCV 2023), and the options are checked
and recorded without changing older cells' ids."""

from __future__ import annotations

import pytest
import torch

from bench.errors import BadParameter
from bench.model import DefendedModel
from bench.registry import REGISTRY
from bench.spec import RunConfig, plan
from defenses.diffusion.schedule import NoiseSchedule
from defenses.diffusion.steps import add_noise, ddim, one_shot, reverse

PURIFIERS = ("ddpm", "diffrev", "oneshot", "audiopure", "dualpure")
SETTINGS = {"ddpm": {"t": 3}, "diffrev": {"t": 3}, "oneshot": {}, "audiopure": {"t": 3}, "dualpure": {}}


class TinyClassifier(torch.nn.Module):
    """A fixed random mel → logits map, enough to carry gradients back to the waveform."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(32 * 32, 10)
        torch.nn.init.normal_(self.linear.weight, std=0.05, generator=torch.Generator().manual_seed(0))
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.linear(mel.flatten(1) / 50.0)


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return 0.3 * torch.randn(2, 1, 16000, generator=torch.Generator().manual_seed(0)).clamp(-3, 3) / 3


def _output_and_grad(name: str, clips: torch.Tensor, **params) -> tuple[torch.Tensor, torch.Tensor]:
    defense, _ = REGISTRY.create("defense", name, {**SETTINGS[name], **params})
    model = DefendedModel(TinyClassifier(), defense)
    x = clips.clone().requires_grad_(True)
    logits = model(x, generator=torch.Generator().manual_seed(7))
    (grad,) = torch.autograd.grad(logits.logsumexp(1).sum(), x)
    return logits.detach(), grad


@pytest.mark.parametrize("name", PURIFIERS)
def test_checkpoint_gives_exact_outputs_and_gradients(name: str, clips: torch.Tensor):
    out, grad = _output_and_grad(name, clips)
    out_ckpt, grad_ckpt = _output_and_grad(name, clips, grad="checkpoint")
    assert torch.equal(out, out_ckpt)
    assert grad.abs().sum() > 0 and torch.allclose(grad, grad_ckpt, rtol=1e-5, atol=1e-7 * grad.abs().max())


@pytest.mark.parametrize("name", PURIFIERS)
def test_surrogate_keeps_the_output_and_changes_the_gradient(name: str, clips: torch.Tensor):
    out, grad = _output_and_grad(name, clips)
    out_surr, grad_surr = _output_and_grad(name, clips, grad="surrogate")
    assert torch.equal(out, out_surr)
    assert torch.isfinite(grad_surr).all() and grad_surr.abs().sum() > 0
    assert not torch.allclose(grad, grad_surr, rtol=1e-3)


def test_ddpm_surrogate_gradient_is_the_one_shot_gradient_from_the_same_draw(clips: torch.Tensor):
    """K = 1 from x_t with the same z: the gradient of one_shot (the DDIM step t → 0), the value of t steps."""
    ddpm, _ = REGISTRY.create("defense", "ddpm", {"t": 3, "grad": "surrogate"})
    x = clips.clone().requires_grad_(True)
    out = ddpm.purify_wave(x, torch.Generator().manual_seed(1))
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    generator = torch.Generator().manual_seed(1)
    x_t = add_noise(ddpm.schedule, x, 3, generator)
    real = reverse(ddpm.net, ddpm.schedule, x_t, 3, generator).clamp(-1, 1)
    surrogate = one_shot(ddpm.net, ddpm.schedule, x_t, 3)
    (expected,) = torch.autograd.grad((2 * real.detach() * surrogate).sum(), x)
    assert torch.equal(out.detach(), real.detach())
    assert torch.allclose(grad, expected * (real.abs() < 1), rtol=1e-5, atol=1e-8)


def test_zero_surrogate_steps_is_bpda_through_the_denoiser(clips: torch.Tensor):
    """K = 0 (oneshot's only surrogate): the gradient of the forward noise alone, sqrt(ᾱ_t) per sample."""
    oneshot, params = REGISTRY.create("defense", "oneshot", {"t": 4, "grad": "surrogate"})
    assert oneshot.surrogate_steps == 0 and params["surrogate_steps"] is None
    x = clips.clone().requires_grad_(True)
    out = oneshot.purify_wave(x, torch.Generator().manual_seed(2))
    (grad,) = torch.autograd.grad(out.sum(), x)
    root_ab = float(NoiseSchedule.linear().alphas_cumprod[3].sqrt())
    assert torch.allclose(grad, root_ab * (out.abs() < 1).float(), rtol=1e-6)


def test_ddim_steps_reduce_to_one_shot_and_identity():
    schedule = NoiseSchedule.linear()
    net = lambda v, k: 0.1 * v + 0.01 * k.view(-1, 1, 1)  # noqa: E731
    x = torch.randn(2, 1, 50, dtype=torch.float64)
    assert torch.equal(ddim(net, schedule, x, 6, 0), x)
    assert torch.allclose(ddim(net, schedule, x, 6, 1), one_shot(net, schedule, x, 6))
    x0 = schedule.predict_x0(x, 6, net(x, torch.full((2,), 5)))  # two steps: 6 → 3 → 0
    x3 = schedule.q_sample(x0, 3, net(x, torch.full((2,), 5)))
    assert torch.allclose(ddim(net, schedule, x, 6, 2), schedule.predict_x0(x3, 3, net(x3, torch.full((2,), 2))))


def _saved_bytes(name: str, t: int, grad: str, clips: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward during one forward through the purifier."""
    defense, _ = REGISTRY.create("defense", name, {"t": t, "grad": grad})
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    x = clips[..., :4000].clone().requires_grad_(True)  # a quarter clip: the bytes scale with its length
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        defense.purify_wave(x, torch.Generator().manual_seed(3))
    return total


@pytest.mark.parametrize("name", ["ddpm", "audiopure"])
def test_checkpoint_memory_does_not_grow_with_reverse_steps(name: str, clips: torch.Tensor):
    few, many = 2, 6
    growth = {grad: (_saved_bytes(name, many, grad, clips) - _saved_bytes(name, few, grad, clips)) / (many - few)
              for grad in ("exact", "checkpoint")}
    assert growth["exact"] > 0 and growth["checkpoint"] < 0.1 * growth["exact"]


def test_gradient_options_are_one_line_errors():
    with pytest.raises(BadParameter, match="surrogate_steps=1 needs grad=surrogate"):
        REGISTRY.create("defense", "ddpm", {"surrogate_steps": "1"})
    with pytest.raises(BadParameter, match=r"surrogate_steps=3 must be in 0..2"):
        REGISTRY.create("defense", "audiopure", {"t": "3", "grad": "surrogate", "surrogate_steps": "3"})
    with pytest.raises(BadParameter, match=r"surrogate_steps=1 must be in 0..0"):
        plan(RunConfig(defense="dualpure", options=[("grad", "surrogate"), ("surrogate_steps", "1")]))
    with pytest.raises(BadParameter, match="grad"):
        REGISTRY.create("defense", "oneshot", {"grad": "adjoint"})  # the adjoint is AudioPure's only


@pytest.mark.parametrize("name", PURIFIERS)
def test_gradient_modes_are_declared_and_recorded(name: str):
    defense, _ = REGISTRY.create("defense", name, {"grad": "checkpoint"})
    assert defense.gradient_mode == "checkpoint"
    recorded = lambda *options: plan(RunConfig(defense=name, options=list(options))).spec["defense"]["params"]  # noqa: E731
    calls = 3 if name in ("ddpm", "diffrev", "audiopure") else 1
    assert recorded(("grad", "surrogate"))["surrogate_steps"] == min(1, calls - 1)
    assert recorded(("grad", "surrogate"), ("surrogate_steps", "0"))["surrogate_steps"] == 0
    default = recorded()
    assert "surrogate_steps" not in default  # older records keep their cell ids: defaults are left out
    assert ("grad" in default) == (name == "audiopure")  # AudioPure has always recorded its grad
    assert recorded(("grad", "exact")) == default
