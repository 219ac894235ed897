"""Compiled execution (``bench.compiled``): the same logits and input gradients as eager, the same draws.

The quick test traces with ``aot_eager`` (dynamo and AOT autograd, no code generation: seconds); the slow
one compiles with inductor, as ``bench run --compile`` and ``bench perf --modes compiled`` do, which takes
minutes of C++ compilation on a small CPU the first time."""

from __future__ import annotations

import pytest
import torch

from bench.compiled import COMPILED_ATTR, compile_stages, compiled_networks
from bench.model import DefendedModel
from bench.registry import REGISTRY
from bench.row_draws import RowGenerators
from bench.victim_loader import load_victim


def slim_model(defense: str) -> DefendedModel:
    victim = load_victim("resnext29")
    return DefendedModel(victim.classifier, REGISTRY.create("defense", defense)[0], victim.frontend)


def logits_and_gradient(model: DefendedModel, generator: torch.Generator | RowGenerators
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    wave = (0.1 * torch.randn(2, 1, 16000, generator=torch.Generator().manual_seed(7))).clamp(-1, 1)
    wave.requires_grad_(True)
    logits = model(wave, generator)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([3, 5]))
    return logits.detach(), torch.autograd.grad(loss, wave)[0]


def assert_same_as_eager(defense: str, backend: str, rtol: float) -> DefendedModel:
    model = slim_model(defense)
    keys = list(model.state_dict())
    eager = [logits_and_gradient(model, g) for g in (torch.Generator().manual_seed(1), RowGenerators([4, 9]))]
    with torch.no_grad():
        eager_purified = model.purify(torch.zeros(2, 1, 16000), torch.Generator().manual_seed(2))
    generator = torch.Generator().manual_seed(1)
    assert compile_stages(model, "cpu", backend=backend) is model
    compiled = [logits_and_gradient(model, g) for g in (generator, RowGenerators([4, 9]))]
    for (logits, grad), (c_logits, c_grad) in zip(eager, compiled, strict=True):
        torch.testing.assert_close(c_logits, logits, rtol=0, atol=rtol * logits.abs().max().item())
        torch.testing.assert_close(c_grad, grad, rtol=0, atol=rtol * grad.abs().max().item())
    # every draw is made outside the compiled networks: the generator advanced exactly as under eager
    reference = torch.Generator().manual_seed(1)
    logits_and_gradient(slim_model(defense), reference)
    assert torch.equal(torch.randn(3, generator=generator), torch.randn(3, generator=reference))
    if backend == "inductor":  # no_grad is another graph: evaluation's path
        with torch.no_grad():
            purified = model.purify(torch.zeros(2, 1, 16000), torch.Generator().manual_seed(2))
        torch.testing.assert_close(purified, eager_purified, rtol=0, atol=rtol * eager_purified.abs().max().item())
    assert list(model.state_dict()) == keys  # weights, names and module identity unchanged
    return model


def test_compiled_stages_trace_the_networks_only_and_keep_the_draws():
    model = assert_same_as_eager("dualpure", "aot_eager", 1e-5)
    names = [name for name, _ in compiled_networks(model)]
    assert names == ["classifier", "defense.net"]  # not the frontend (graph breaks), not the schedule (no weights)
    assert all(getattr(m, COMPILED_ATTR) for _, m in compiled_networks(model))
    assert not getattr(model.frontend, COMPILED_ATTR, False)
    forward = model.classifier.forward
    compile_stages(model, "cpu", backend="aot_eager")
    assert model.classifier.forward is forward  # compiling twice changes nothing


@pytest.mark.slow
@pytest.mark.parametrize("defense", ["none", "dualpure"])
def test_inductor_gives_eager_logits_and_gradients_within_float_tolerance(defense: str):
    assert_same_as_eager(defense, "inductor", 1e-4)
