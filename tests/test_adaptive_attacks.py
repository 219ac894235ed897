"""Adaptive attacks on randomized purifiers: per-clip draws, DiffHammer, fixed randomness, the worst-case suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from attacks.adaptive import AdaptiveSuite
from attacks.diffhammer import DiffHammer
from attacks.pgd import PGD
from bench.cli import app
from bench.errors import BadParameter
from bench.fixed_draws import FixedDraw
from bench.model import DefendedModel
from bench.results import iter_records
from bench.row_draws import RowGenerators
from defenses.base import Defense
from defenses.diffnoise import DiffNoise
from tests.conftest import TINY_OPTIONS
from tests.test_attacks_contract import labels_of, tiny_mel_net, toy_model, toy_waves

runner = CliRunner()
BASE = ["run", "--n", "10", "--seeds", "1", "--no-progress", "--draws", "4", *TINY_OPTIONS]


def trajectory(attack, model, x, y, seed: int = 0) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    attack.perturb(model, x, y, torch.Generator().manual_seed(seed), on_step=lambda s, xi: seen.append(xi.clone()))
    return seen


def test_row_generators_give_each_clip_its_own_replayable_draw():
    defense, x = DiffNoise(t=2), toy_waves(4)
    streams = RowGenerators([11, 12, 13, 14])
    full = defense.purify_wave(x, streams)
    assert torch.equal(defense.purify_wave(x, streams.replay()), full)  # replayed exactly
    # a clip's draw does not depend on the rest of the batch, nor on its position in it
    assert torch.equal(defense.purify_wave(x[[2, 0]], streams.rows([2, 0])), full[[2, 0]])
    assert not torch.equal(full[0] - x[0], full[1] - x[1])
    # a plain torch.Generator draws exactly what it always drew
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    expected = defense.schedule.q_sample(x, 2, torch.randn(x.shape, generator=g2))
    assert torch.equal(defense.purify_wave(x, g1), expected.clamp(-1, 1))


def test_diffhammer_without_em_is_pgd_eot_on_the_same_draws():
    model, x = toy_model(0.05), toy_waves()
    y = labels_of(model, x)
    hammer = DiffHammer(steps=4, restarts=1, losses="ce", evaluations=3, em=False, eot=3, step_size=0.0004,
                        random_start=False)
    pgd = PGD(steps=4, eot=3, step_size=0.0004)
    ours, theirs = trajectory(hammer, model, x, y), trajectory(pgd, model, x, y)
    assert len(ours) == len(theirs) == 4
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_grafting_carries_one_draw_gradient_exactly():
    # with one evaluation draw, the EM direction is that draw's gradient at the purified input; grafting it
    # back through the replayed draw must give the full gradient of that same draw
    model, x = toy_model(0.05), toy_waves()
    y = labels_of(model, x)
    common = dict(norm="l2", steps=3, restarts=1, losses="ce", evaluations=1, em_steps=2, random_start=False)
    grafted = trajectory(DiffHammer(grafting=True, **common), model, x, y)
    full = trajectory(DiffHammer(grafting=False, **common), model, x, y)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grafted, full, strict=True))


def test_diffhammer_refuses_grafting_on_batch_drawn_noise():
    class BatchNoise(Defense):
        stochastic = True

        def purify_wave(self, wave, generator=None):
            return (wave + 0.01 * torch.randn(wave.shape, generator=generator)).clamp(-1, 1)

    model, x = DefendedModel(tiny_mel_net(), BatchNoise()), toy_waves(3)
    y = labels_of(model, x)
    with pytest.raises(BadParameter, match="grafting=false"):
        DiffHammer(steps=1, restarts=1).perturb(model, x, y, torch.Generator().manual_seed(0))
    x_adv = DiffHammer(steps=1, restarts=1, grafting=False).perturb(model, x, y, torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= 0.002 + 1e-6


def test_fixed_draw_is_one_draw_per_clip_whatever_the_call():
    model, x = toy_model(0.05), toy_waves(4)
    fixed = FixedDraw(model, [1, 2, 3, 4])
    first = fixed(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fixed(x, generator=torch.Generator().manual_seed(9)), first)  # the caller's draw is ignored
    stacked = fixed(torch.cat([x, x]))  # EOT copies see the same draw
    assert torch.equal(stacked[:4], first) and torch.equal(stacked[4:], first)
    assert torch.equal(fixed.rows(1, 3)(x[1:3]), first[1:3])  # a batch of the clips: their draws
    with pytest.raises(BadParameter, match="whole copies"):
        fixed(x[:3])
    with pytest.raises(BadParameter, match="eot=1"):
        PGD(eot=2, fixed_randomness=True)


def test_suite_skips_clips_an_earlier_member_broke():
    model, x = toy_model(0.05), toy_waves()
    y = labels_of(model, x)
    suite = AdaptiveSuite(eps=0.3, evaluations=3, members="pgd:steps=3+pgd:steps=1:eot=2")
    x_adv = suite.perturb(model, x, y, torch.Generator().manual_seed(0))
    out = suite.take_outcomes()
    first, second = out["wrong_draws"]
    assert len(first) == len(second) == len(x) and min(first) >= 0
    # a clip wrong under all draws after the first member is not attacked again (-1), the others are
    assert all((b == -1) == (a == 3) for a, b in zip(first, second, strict=True))
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6 and suite.take_outcomes() == {}
    with pytest.raises(BadParameter, match="budget"):
        AdaptiveSuite(members="pgd:eps=0.5")


def test_cells_record_fixed_randomness_diffhammer_and_the_suite(tmp_path: Path, tiny_synth):
    def cell(folder: str, *extra: str) -> dict:
        out = runner.invoke(app, [*BASE, "--results", str(tmp_path / folder), "--defense", "dualpure", *extra])
        assert out.exit_code == 0, out.output
        (record,) = iter_records(tmp_path / folder)
        return record

    fixed = cell("fixed", "--steps", "2", "-o", "attack.fixed_randomness=true")
    assert fixed["spec"]["gradient_mode"] == "fixed" and fixed["draws"]["repeatable"]
    assert len({v for k, v in fixed["protocols"].items() if k != "any_iter"}) == 1  # one known draw: all agree
    assert not fixed["checks"]["warnings"]  # EOT = 1 is right when the draw is known
    hammer = cell("hammer", "--attack", "diffhammer", "-o", "attack.steps=2", "-o", "attack.restarts=1",
                  "-o", "attack.evaluations=4")
    assert hammer["spec"]["gradient_mode"] == "grafted" and {"worst@4", "avg@4"} <= set(hammer["protocols"])
    suite = cell("suite", "--attack", "adaptive", "-o", "attack.evaluations=4",
                 "-o", "attack.members=pgd:steps=2+diffhammer:steps=1:restarts=1:evaluations=4")
    assert [a["name"] for a in suite["members"]["attacks"]] == ["pgd", "diffhammer"]
    assert len(suite["members"]["wrong_draws"][0]) == suite["n"]
    out = runner.invoke(app, [*BASE, "--results", str(tmp_path / "x"), "--attack", "diffhammer",
                              "-o", "attack.evaluations=8"])
    assert out.exit_code != 0 and "--draws 8" in out.output


ADAPTIVE_GRID = """
title = "Tiny adaptive"
paper = "dualpure"
layout = "table"
rows = ["DiffNoise"]
columns = ["Clean", "PGD-2", "Fixed randomness", "Worst case"]
caption = "tiny adaptive grid"
protocols = ["final@1", "worst@2"]
cost = true
interval = "clip_bootstrap"

[profile.quick]
n = 10
seeds = 1
batch_size = 4
draws = 2
options = { "data.voices" = 2, "data.clips_per_voice" = 2 }

[[run]]
row = "{defense}"
column = "PGD-{steps}"
clean_column = "Clean"
defense = "diffnoise"
steps = 2

[[run]]
row = "{defense}"
column = "Fixed randomness"
defense = "diffnoise"
steps = 2
options = { "attack.fixed_randomness" = true }

[[run]]
row = "{defense}"
column = "Worst case"
defense = "diffnoise"
attack = "adaptive"
options = { "attack.members" = "pgd:steps=1+pgd:steps=1:eot=2", "attack.evaluations" = 2 }
"""


def test_adaptive_artefact_shows_its_protocols_and_each_attacks_cost(tmp_path: Path, tiny_synth):
    grid = tmp_path / "tinyadaptive.toml"
    grid.write_text(ADAPTIVE_GRID)
    out = runner.invoke(app, ["run", "--grid", str(grid), "--results", str(tmp_path / "runs"), "--threads", "1",
                              "--no-progress"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["report", "--results", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
                              "--grid", str(grid)])
    assert out.exit_code == 0, out.output
    md = (tmp_path / "out" / "tinyadaptive-quick.md").read_text()
    assert "under protocol final@1" in md and "under protocol worst@2" in md and "any_iter" not in md
    cost = md.split("**Cost of each cell's attack")[1].split("## Cells")[0]
    row = next(line for line in cost.splitlines() if line.startswith("| DiffNoise"))
    pgd, fixed, worst = (cell.strip() for cell in row.strip("|").split("|")[1:])
    # PGD-2 backpropagates 2 gradients per clip; the suite at least its first member's 1, at most 1 + 2
    assert pgd.startswith("2 · ") and fixed.startswith("2 · ") and worst.split(" · ")[0] in {"1", "2", "3"}
    assert re.search(r"Fixed randomness.*fixed-draw", md)
    # every cell: mean [95 % clip-bootstrap interval], the robust mean the record's own final@1, the clean one its
    # defended clean accuracy
    final = md.split("under protocol final@1")[1].split("**")[1]
    line = next(x for x in final.splitlines() if x.startswith("| DiffNoise"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    record = next(r for r in iter_records(tmp_path / "runs") if r["spec"]["attack"]["name"] == "pgd"
                  and not r["spec"]["attack"]["params"].get("fixed_randomness"))
    mean, low, high = map(float, re.fullmatch(r"([\d.]+) \[([\d.]+), ([\d.]+)\]", cells[2]).groups())
    assert low <= mean <= high and mean == round(record["protocols"]["final@1"], 1)
    clean = next(r for r in iter_records(tmp_path / "runs") if r["spec"]["defense"]["name"] == "diffnoise")
    assert cells[1].startswith(f"{clean['clean_acc']:.1f} [") and "95 % interval: percentile bootstrap over clips" in md


def test_em_selects_the_direction_the_vulnerable_draws_share():
    from attacks.norms import get_norm
    from attacks.selective import DrawStats, em_direction

    # four draws of one clip: two near breaking (loss 2) share direction e1, two far (loss -2) share e2
    grads = torch.tensor([[[1.0, 0.0]], [[1.0, 0.1]], [[0.0, 1.0]], [[0.1, 1.0]]])
    loss = torch.tensor([[2.0], [2.0], [-2.0], [-2.0]])
    stats = DrawStats(loss, loss, loss > 0, grads)
    r, chosen = em_direction(stats, get_norm("l2"), eta=1.0, lam=2.0, steps=5)
    assert torch.nn.functional.cosine_similarity(r, torch.tensor([[1.0, 0.0]])).item() > 0.9
    assert chosen.item() in (0, 1)
    mean = grads.mean(0)  # what EOT averages: the two directions alike
    assert torch.nn.functional.cosine_similarity(mean, torch.tensor([[1.0, 0.0]])).item() < 0.8
