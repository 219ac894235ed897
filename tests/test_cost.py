"""What an attack costs, as every record stores it: gradients through the defended model, and peak memory."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from attacks.base import Attack
from bench.data.base import ClipSet
from bench.evaluate import evaluate_cell
from bench.memory import PeakMemory
from bench.queries import QueryCounter, cost_text
from bench.registry import REGISTRY
from tests.test_attacks_contract import CLASSES, labels_of, tiny_surrogate, toy_model, toy_waves  # noqa: F401

CLIPS, BATCH = 10, 4


def cell(attack: Attack) -> dict[str, Any]:
    model, x = toy_model(sigma=0.05), toy_waves(CLIPS)
    clips = ClipSet([f"c{i}" for i in range(CLIPS)], x, labels_of(model, x), tuple(CLASSES))
    return evaluate_cell(model, attack, clips, 0, BATCH, torch.device("cpu"), progress=False, draws=2)


def test_gradients_count_rows_whose_backward_reaches_the_input():
    counter = QueryCounter(toy_model())
    x = toy_waves(3).requires_grad_(True)
    y = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        counter(x)  # no graph: a query, no gradient
    logits = counter(x)  # a graph nobody differentiates: no gradient
    assert (counter.queries, counter.gradients) == (6, 0)
    torch.autograd.grad(logits.sum(), logits)  # a backward that stops at the output never went through
    assert counter.gradients == 0
    loss = torch.nn.functional.cross_entropy(counter(x), y)
    torch.autograd.grad(loss, x, retain_graph=True)
    assert counter.gradients == 3
    loss.backward()  # a second backward through the same forward is a second gradient computation
    assert (counter.queries, counter.gradients, counter.classifier_gradients) == (9, 6, 0)


def test_grafting_counts_one_purifier_gradient_and_each_classifier_gradient():
    counter = QueryCounter(toy_model())
    x = toy_waves(4).requires_grad_(True)
    mel = counter.purify(x, torch.Generator().manual_seed(0))
    loss = sum(counter.classify(mel).logsumexp(1).sum() for _ in range(3))
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.abs().sum() > 0
    assert (counter.queries, counter.classifications) == (4, 12)
    assert (counter.gradients, counter.classifier_gradients) == (4, 12)


@pytest.mark.parametrize("options", [{"steps": 2, "eot": 3}, {"steps": 3, "eot": 2, "eot_batch": 1},
                                     {"steps": 2, "eot": 2, "restarts": 2, "restart_draws": 3}])
def test_a_pgd_eot_cell_counts_steps_times_eot_gradients_per_clip(options: dict[str, Any]):
    attack, _ = REGISTRY.create("attack", "pgd", {**options, "random_start": True})
    record = cell(attack)
    queries = record["queries"]
    gradients = attack.steps * attack.eot * attack.restarts * CLIPS
    selection = attack.restart_draws * attack.restarts * CLIPS if attack.restarts > 1 else 0  # no_grad queries
    assert queries["gradients"] == gradients and queries["gradients_per_clip"] == gradients / CLIPS
    assert queries["total"] == gradients + selection and queries["per_clip"] == queries["total"] / CLIPS
    assert queries["classifications"] == queries["classifier_gradients"] == 0
    assert record["memory"] == {"peak_bytes": None, "baseline_bytes": None, "per_clip_bytes": None,
                                "device": "cpu"}  # not measured off CUDA: no pretend number


def test_fixed_randomness_counts_its_gradients_through_the_fixed_draw():
    attack, _ = REGISTRY.create("attack", "bandlimited", {"steps": 3, "fixed_randomness": True})
    record = cell(attack)
    assert record["queries"]["gradients"] == record["queries"]["total"] == attack.steps * CLIPS


def test_query_only_and_transfer_attacks_count_no_gradient(tiny_surrogate):  # noqa: F811
    nes, _ = REGISTRY.create("attack", "pgd", {"steps": 2, "gradient": "nes:4"})
    record = cell(nes)
    assert record["queries"]["total"] == 2 * 4 * CLIPS and record["queries"]["gradients"] == 0
    transfer, _ = REGISTRY.create("attack", "mifgsm", {"steps": 2, **tiny_surrogate})
    record = cell(transfer)
    assert record["queries"]["total"] == record["queries"]["gradients"] == 0


def test_cost_text_reads_old_and_new_records():
    assert cost_text({"queries": {"total": 20, "per_clip": 2.0}}) == "2 queries/clip"
    new = {"queries": {"per_clip": 2.0, "gradients_per_clip": 2.0},
           "memory": {"peak_bytes": 3 * 2**30, "per_clip_bytes": 2**29, "device": "cuda"}}
    assert cost_text(new) == "2 queries/clip, 2 gradients/clip, peak 3.00 GiB, 0.50 GiB/clip"
    new["memory"] = {"peak_bytes": None, "per_clip_bytes": None, "device": "cpu"}
    assert cost_text(new) == "2 queries/clip, 2 gradients/clip"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_peak_memory_on_cuda_measures_what_the_block_allocated():
    device = torch.device("cuda")
    held = torch.zeros(2**20, device=device)  # allocated before: the baseline, not the block's
    with PeakMemory(device) as memory:
        scratch = torch.ones(4, 2**20, device=device)  # 16 MiB at once
        del scratch
    summary = memory.summary(clips_at_once=4)
    assert summary["device"] == "cuda" and summary["baseline_bytes"] >= held.numel() * 4
    assert summary["peak_bytes"] - summary["baseline_bytes"] >= 4 * 2**20 * 4
    assert summary["per_clip_bytes"] == round((summary["peak_bytes"] - summary["baseline_bytes"]) / 4)
    with PeakMemory(device) as again:
        pass
    assert again.peak_bytes - again.baseline_bytes < 4 * 2**20 * 4  # reset per block
