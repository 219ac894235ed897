"""``bench.sanity``: a cut gradient is reported as zero, every other error propagates; the EOT warning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.sanity import input_gradient, warnings


class Linear(nn.Module):
    def __init__(self, detach: bool = False, fail: bool = False):
        super().__init__()
        self.linear, self.detach, self.fail = nn.Linear(16, 3), detach, fail

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.fail:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.linear((x.detach() if self.detach else x).flatten(1))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(4, 1, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0])


def test_errors_inside_the_model_propagate():
    with pytest.raises(RuntimeError, match="out of memory"):
        input_gradient(Linear(fail=True), *_data(), torch.Generator())


def test_a_cut_gradient_is_reported_as_zero():
    detached = input_gradient(Linear(detach=True), *_data(), torch.Generator())
    assert (detached["checked"], detached["zero"], detached["non_finite"]) == (4, 4, 0) and "cut" in detached["error"]

    def constant(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.zeros(x.shape[0], 3)  # no graph at all

    assert input_gradient(constant, *_data(), torch.Generator())["zero"] == 4
    assert input_gradient(Linear(), *_data(), torch.Generator()) == {"checked": 4, "zero": 0, "non_finite": 0}


def test_the_eot_warning_reads_draws_per_gradient():
    checks = {"randomized": True, "input_gradient": {"checked": 4, "zero": 0, "non_finite": 0},
              "non_finite_logits": 0}
    assert any("EOT = 1" in w for w in warnings(checks, True, 1, "exact"))
    assert warnings(checks, True, 20, "eot") == [] and warnings(checks, True, 1, "nes") == []
    assert warnings(checks, True, 0, "transfer") == []
