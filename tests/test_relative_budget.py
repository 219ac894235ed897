"""A budget relative to each clip's peak (``pgd -o eps_db`` / ``bench run --eps-db``): dB_x(δ) ≤ D per clip."""

from __future__ import annotations

import math

import pytest
import torch

from attacks.base import check_budget
from attacks.pgd import PGD
from bench.data.base import ClipSet
from bench.errors import BadParameter
from bench.evaluate import evaluate_cell
from tests.test_attacks_contract import CLASSES, labels_of, toy_model, toy_waves

CPU = torch.device("cpu")


def _peaked(peaks: list[float]) -> torch.Tensor:
    x = toy_waves(len(peaks))
    return x / x.flatten(1).abs().amax(1).view(-1, 1, 1) * torch.tensor(peaks).view(-1, 1, 1)


def test_each_clip_is_bounded_by_its_own_peak():
    model = toy_model(sigma=0.0)
    x = _peaked([1.0, 0.5, 0.03, 0.2])
    y = labels_of(model, x)
    attack = PGD(eps_db=-40, steps=8)
    x_adv = attack.perturb(model, x, y, torch.Generator().manual_seed(0))
    linf = (x_adv - x).flatten(1).abs().amax(1)
    radius = attack.budget_eps(x)
    assert torch.allclose(radius, torch.tensor([1.0, 0.5, 0.03, 0.2]) * 0.01)
    assert (linf <= radius + 1e-7).all() and (linf >= 0.9 * radius).all()  # 8 steps of 1/5: at the radius
    assert check_budget(x_adv, x, radius, "linf").ok
    assert not check_budget(x_adv, x, torch.full((4,), 0.03 * 0.01), "linf").ok  # a quiet clip's radius for all


def test_on_clips_of_one_peak_it_is_the_absolute_budget():
    model = toy_model(sigma=0.0)
    x = _peaked([0.5] * 4)
    y = labels_of(model, x)
    absolute = PGD(eps=0.005, steps=4).perturb(model, x, y, torch.Generator().manual_seed(0))
    relative = PGD(eps_db=20 * math.log10(0.005 / 0.5), steps=4).perturb(model, x, y, torch.Generator().manual_seed(0))
    assert torch.allclose(absolute, relative, atol=1e-7)


def test_the_cell_checks_and_records_each_clips_radius():
    model = toy_model(sigma=0.0)
    x = _peaked([1.0, 0.5, 0.03, 0.2, 0.1, 0.8])
    clips = ClipSet([f"c{i}" for i in range(6)], x, labels_of(model, x), tuple(CLASSES))
    attack = PGD(eps_db=-30, steps=3)
    record = evaluate_cell(model, attack, clips, 0, 4, CPU, progress=False)
    eps = record["per_sample"]["eps"]
    assert eps == pytest.approx([p * 10 ** (-30 / 20) for p in record["per_sample"]["clip_peak"]], rel=1e-5)
    assert all(d <= e * (1 + 1e-5) + 1e-6 for d, e in zip(record["per_sample"]["linf"], eps, strict=True))
    assert record["budget"]["violations"] == 0 and record["budget"]["eps"] == pytest.approx(max(eps), rel=1e-5)
    assert attack.params()["eps_db"] == -30 and "-30 dB_x" in attack.label()
    assert "eps_db" not in PGD().params()  # older cells keep their ids


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": 0.002, "eps_db": -40}, "not both"),
    ({"eps_db": -40, "norm": "l2"}, "needs --norm linf"),
    ({"eps_db": 3.0}, "D <= 0 dB"),
    ({"eps_db": float("nan")}, "D <= 0 dB"),
])
def test_bad_relative_budgets_are_refused_in_one_line(kwargs: dict, message: str):
    with pytest.raises(BadParameter, match=message):
        PGD(**kwargs)
