"""The noise schedule, the shared steps, and the two ε-networks in their published configurations."""

from __future__ import annotations

import math

import pytest
import torch

from defenses.diffusion.diffwave import DiffWave, diffwave
from defenses.diffusion.mel import DB_MAX, DB_MIN, standardize, unstandardize
from defenses.diffusion.mel_unet import AttentionBlock, MelUNet, ResBlock, mel_unet
from defenses.diffusion.schedule import NoiseSchedule
from defenses.diffusion.steps import add_noise, one_shot, reverse, reverse_sde


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule.linear()


def test_schedule_matches_the_released_numbers(schedule: NoiseSchedule):
    # sqrt(1 − ᾱ_t) at t = 1, 2, 3, 5, 10 for DiffWave's T = 200 linear schedule (Kong et al., ICLR 2021)
    stds = [schedule.noise_std(t) for t in (1, 2, 3, 5, 10)]
    assert stds == pytest.approx([0.0100, 0.0173, 0.0245, 0.0387, 0.0741], abs=5e-5)
    assert schedule.steps == 200 and float(schedule.betas[-1]) == pytest.approx(0.02)
    betas, ab = schedule.betas, schedule.alphas_cumprod
    assert float(schedule.posterior_variance[4]) == pytest.approx(float(betas[4] * (1 - ab[3]) / (1 - ab[4])))
    with pytest.raises(ValueError, match="outside 1..200"):
        schedule.q_sample(torch.zeros(1), 0, torch.zeros(1))


@pytest.mark.parametrize("shape", [(2, 1, 64), (2, 1, 4, 4)])
def test_closed_forms_hold_for_waves_and_mels(schedule: NoiseSchedule, shape: tuple[int, ...]):
    x0, eps = torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    for t in (1, 7, 200):
        x_t = schedule.q_sample(x0, t, eps)
        assert torch.allclose(schedule.predict_x0(x_t, t, eps), x0, atol=1e-9)
    # one ancestral step with the true ε and no noise lands on the posterior mean at t − 1 given x0
    t = 5
    x_t = schedule.q_sample(x0, t, eps)
    ab, ab_prev, beta = (float(schedule.alphas_cumprod[t - 1]), float(schedule.alphas_cumprod[t - 2]),
                         float(schedule.betas[t - 1]))
    mean = (math.sqrt(ab_prev) * beta / (1 - ab)) * x0 + (math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)) * x_t
    assert torch.allclose(schedule.p_step(x_t, t, eps, None), mean, atol=1e-9)


def test_steps_draw_only_from_the_generator(schedule: NoiseSchedule):
    net = lambda x, k: 0.1 * x  # noqa: E731 - a stand-in ε-network
    x = torch.rand(2, 1, 100) - 0.5
    runs = [reverse(net, schedule, add_noise(schedule, x, 3, torch.Generator().manual_seed(s)), 3,
                    torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    torch.manual_seed(123)  # the global RNG must not matter
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    assert torch.allclose(one_shot(net, schedule, x, 1), schedule.predict_x0(x, 1, 0.1 * x))


def _random_diffwave() -> DiffWave:
    net = diffwave("slim")
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(p.numel()))
    return net.requires_grad_(False)


def test_reverse_sde_exact_and_adjoint_share_the_forward_pass(schedule: NoiseSchedule):
    net = _random_diffwave()
    x = (torch.rand(2, 1, 800) - 0.5).requires_grad_(True)
    out, grad = {}, {}
    for mode in ("exact", "adjoint"):
        y = reverse_sde(net, schedule, x, 3, torch.Generator().manual_seed(0), mode)
        (grad[mode],) = torch.autograd.grad(y.square().sum(), x)
        out[mode] = y.detach()
    assert torch.allclose(out["exact"], out["adjoint"], atol=1e-6)
    # the manual Euler–Maruyama loop of AudioPure's Eq. 5–6 (Wu et al., ICLR 2023) with the same increments
    # gives the same result
    z = torch.randn((3, 2, 800), generator=torch.Generator().manual_seed(0))
    manual = x.detach()
    for k, n in enumerate((3, 2, 1)):
        eps = net(manual, torch.full((2,), n - 1))
        manual = manual + schedule.sde_drift(manual, n, eps) + schedule.sde_diffusion(n) * z[k].view(2, 1, 800)
    assert torch.allclose(manual, out["exact"], atol=1e-5)


def test_reverse_sde_gradients_exact_and_adjoint(schedule: NoiseSchedule):
    """With a linear stand-in ε = c·x both gradients are closed forms: exact keeps the network's Jacobian,
    adjoint (the released AudioPure gradient) keeps only the ½β x part of the drift."""
    c = 20.0
    x = (torch.rand(2, 1, 50, dtype=torch.float64) - 0.5).requires_grad_(True)
    grads = {}
    for mode in ("exact", "adjoint"):
        y = reverse_sde(lambda v, k: c * v, schedule, x, 3, torch.Generator().manual_seed(0), mode)
        (grads[mode],) = torch.autograd.grad(y.sum(), x)
    beta = lambda n: float(schedule.betas[n - 1])  # noqa: E731
    std = lambda n: schedule.noise_std(n)  # noqa: E731
    exact = math.prod(1 + 0.5 * beta(n) - beta(n) * c / std(n) for n in (3, 2, 1))
    adjoint = math.prod(1 + 0.5 * beta(n) for n in (2, 1, 1))  # evaluated one step lower on the way back
    assert torch.allclose(grads["exact"], torch.full_like(x, exact), rtol=1e-9)
    assert torch.allclose(grads["adjoint"], torch.full_like(x, adjoint), rtol=1e-9)
    assert exact < 0.9 < adjoint


def test_diffwave_published_configuration_loads_philsyn_names():
    net = diffwave("paper")
    state = net.state_dict()
    # philsyn/DiffWave-unconditional's 36×256 model, about 24.1 M parameters
    assert sum(p.numel() for p in net.parameters()) == 24_071_681
    blocks = net.residual_layer.residual_blocks
    assert len(blocks) == 36 and [b.dilated_conv_layer.conv.dilation for b in blocks[:13]] == \
        [2 ** i for i in range(12)] + [1]
    expected = {
        "init_conv.0.conv.weight_g": (256, 1, 1), "init_conv.0.conv.weight_v": (256, 1, 1),
        "residual_layer.fc_t1.weight": (512, 128), "residual_layer.fc_t2.weight": (512, 512),
        "residual_layer.residual_blocks.35.fc_t.weight": (256, 512),
        "residual_layer.residual_blocks.0.dilated_conv_layer.conv.weight_v": (512, 256, 3),
        "residual_layer.residual_blocks.0.res_conv.weight_g": (256, 1, 1),
        "residual_layer.residual_blocks.0.skip_conv.bias": (256,),
        "final_conv.0.conv.weight_v": (256, 256, 1), "final_conv.2.conv.weight": (1, 256, 1),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected


def test_diffwave_residual_keeps_the_in_place_embedding_add():
    net = _random_diffwave()
    block = net.residual_layer.residual_blocks[0]
    x, emb = torch.randn(1, 32, 50), torch.randn(1, 256)
    out, _ = block(x, emb)
    h = x + block.fc_t(emb).unsqueeze(-1)
    h2 = block.dilated_conv_layer(h)
    gated = torch.tanh(h2[:, :32]) * torch.sigmoid(h2[:, 32:])
    assert torch.allclose(out, (h + block.res_conv(gated)) * math.sqrt(0.5), atol=1e-6)


def test_mel_unet_published_configuration_has_improved_diffusion_layout():
    net = mel_unet("paper")
    state = net.state_dict()
    res = [m for m in net.modules() if isinstance(m, ResBlock)]
    attention = [m for m in net.modules() if isinstance(m, AttentionBlock)]
    # 3 res blocks × 4 levels down, 4 × 4 up, 2 in the middle; attention at 16×16 and 8×8 (+ middle)
    assert len(res) == 30 and len(attention) == 15 and all(a.num_heads == 4 for a in attention)
    expected = {
        "time_embed.0.weight": (512, 128), "time_embed.2.weight": (512, 512),
        "input_blocks.0.0.weight": (128, 1, 3, 3),
        "input_blocks.1.0.emb_layers.1.weight": (256, 512),  # scale-shift norm: 2 × 128 outputs
        "input_blocks.4.0.op.weight": (128, 128, 3, 3),  # first downsample
        "input_blocks.5.1.qkv.weight": (768, 256, 1),  # attention at 16×16
        "middle_block.1.proj_out.weight": (256, 256, 1),
        "output_blocks.0.0.skip_connection.weight": (256, 512, 1, 1),
        "out.2.weight": (1, 128, 3, 3),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected
    assert sum(p.numel() for p in net.parameters()) == 52_538_369
    assert net(torch.zeros(1, 1, 32, 32), torch.tensor([0])).shape == (1, 1, 32, 32)


def test_mel_standardisation_maps_the_released_bounds():
    db = torch.tensor([DB_MIN, DB_MAX, -30.89])
    assert torch.allclose(standardize(db), torch.tensor([-1.0, 1.0, 0.0]), atol=1e-4)
    assert torch.allclose(unstandardize(standardize(db)), db, atol=1e-4)


def test_slim_networks_are_small_and_keep_shapes():
    assert isinstance(mel_unet("slim"), MelUNet)
    for net, x in ((diffwave("slim"), torch.randn(2, 1, 1000)), (mel_unet("slim"), torch.randn(2, 1, 32, 32))):
        assert sum(p.numel() for p in net.parameters()) < 1_000_000
        assert net(x, torch.tensor([0, 199])).shape == x.shape
