"""``bench eval`` (clean accuracy on a whole split, confusion matrix) and the evaluation subset's refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.data.base import ClipSet
from bench.data.subset import correct_per_class, largest_balanced_n, select_eval_subset
from bench.errors import BadParameter, DataError
from bench.eval import FILES
from bench.model import DefendedModel
from bench.registry import REGISTRY
from bench.seeding import make_generator
from bench.victim_loader import load_victim
from tests.conftest import TINY_OPTIONS

runner = CliRunner()
EVAL = ["eval", "--no-progress", "--device", "cpu", "--batch-size", "16", *TINY_OPTIONS]


def test_eval_writes_accuracy_per_class_and_confusion_of_the_victims_argmax(tiny_synth, tmp_path: Path):
    out = runner.invoke(app, [*EVAL, "--out", str(tmp_path / "ev")])
    assert out.exit_code == 0, out.output
    assert all((tmp_path / "ev" / name).is_file() for name in FILES)
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    clips = tiny_synth.load("test")
    victim = load_victim("resnext29")
    with torch.no_grad():  # the victim's own arg-max, in float64 as bench run's subset selection
        bare = torch.nn.Sequential(victim.frontend, victim.classifier).double()
        preds = bare(clips.waves.double()).argmax(1)
    r = summary["results"]["victim"]
    assert r["correct"] == int((preds == clips.labels).sum()) and r["clips"] == len(clips) == 40
    assert r["accuracy"] == pytest.approx(100.0 * r["correct"] / 40)
    matrix = torch.tensor(r["confusion"])
    class_clips = torch.bincount(clips.labels, minlength=10)
    assert matrix.sum(1).tolist() == class_clips.tolist() == summary["class_clips"]
    assert matrix.sum(0).tolist() == torch.bincount(preds, minlength=10).tolist()
    for c, name in enumerate(clips.classes):
        assert r["per_class"][name] == pytest.approx(100.0 * int(matrix[c, c]) / int(class_clips[c]))
    counts = [int(((preds == clips.labels) & (clips.labels == c)).sum()) for c in range(10)]
    assert summary["victim_correct_per_class"] == counts and summary["largest_balanced_n"] == 10 * min(counts)
    assert summary["data"]["split_hash"] == clips.content_hash() and r["seconds_per_1000_clips"] > 0
    assert summary["defense"] is None
    with open(tmp_path / "ev" / "confusion.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["model", "true", *clips.classes] and len(rows) == 11
    assert [int(v) for v in rows[1][2:]] == r["confusion"][0]
    assert (tmp_path / "ev" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "| true \\ predicted | zero |" in (tmp_path / "ev" / "confusion.md").read_text()
    assert f"({r['correct']}/40)" in out.output and f"`bench run --n`: {10 * min(counts)}" in out.output


def test_eval_with_a_defense_scores_the_defended_model_with_seeded_draws(tiny_synth, tmp_path: Path):
    out = runner.invoke(app, [*EVAL, "--defense", "mean-filter", "--seed", "3",
                              "--out", str(tmp_path / "ev")])
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    clips = tiny_synth.load("test")
    victim = load_victim("resnext29")
    defense, _ = REGISTRY.create("defense", "mean-filter", {})
    model = DefendedModel(victim.classifier, defense, victim.frontend)
    generator = make_generator(3, "eval-split")
    with torch.no_grad():
        preds = torch.cat([model(clips.waves[i : i + 16], generator=generator).argmax(1) for i in range(0, 40, 16)])
    r = summary["results"]["defended"]
    assert r["correct"] == int((preds == clips.labels).sum())
    assert torch.tensor(r["confusion"]).sum(1).tolist() == summary["class_clips"]
    assert summary["defense"]["name"] == "mean-filter" and summary["defense"]["seed"] == 3
    assert "mean-filter (seed 3)" in out.output and "defended %" in out.output


@pytest.mark.parametrize(("extra", "line"), [
    (["-o", "steps=3"], "error: -o steps: bench eval runs no attack; drop it"),
    (["--split", "dev"], "error: unknown split 'dev'; valid: train, valid, test"),
    (["--batch-size", "0"], "error: --batch-size 0: must be at least 1"),
])
def test_eval_refuses_bad_input_in_one_line_before_any_output(tmp_path: Path, extra: list[str], line: str):
    out = runner.invoke(app, [*EVAL, *extra, "--out", str(tmp_path / "ev")])
    assert out.exit_code == 2 and out.output.strip() == line
    assert not (tmp_path / "ev").exists()


# -- the evaluation subset -------------------------------------------------------------------------

def _clips() -> tuple[ClipSet, torch.Tensor]:
    """Three classes of five clips; correct: 4 of class a, 2 of b, 5 of c (11 of 15)."""
    labels = torch.arange(3).repeat_interleave(5)
    correct = torch.tensor([1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1], dtype=torch.bool)
    clips = ClipSet([f"c{i}" for i in range(15)], torch.zeros(15, 1, 4), labels, ("a", "b", "c"))
    return clips, correct


def test_subset_is_balanced_from_correct_clips_up_to_the_largest_n():
    clips, correct = _clips()
    assert largest_balanced_n(correct_per_class(clips.labels, correct, 3)) == 6
    subset = select_eval_subset(clips, correct, n=6, seed=0)
    assert torch.bincount(subset.labels).tolist() == [2, 2, 2]
    assert all(correct[int(i[1:])] for i in subset.ids)


def test_subset_shortage_lists_every_class_the_accuracy_and_the_largest_n():
    clips, correct = _clips()
    with pytest.raises(DataError) as info:
        select_eval_subset(clips, correct, n=9, seed=0)
    assert str(info.value) == (
        "--n 9 needs 3 correctly classified test clips of each class, but class 'b' has fewer: correct per class: "
        "a 4, b 2, c 5 (the victim classifies 11/15, 73.3 %, of the test split correctly); the largest balanced "
        "subset is --n 6: use --n 6, or a better victim")
    with pytest.raises(DataError, match=r"but classes 'a', 'b' have fewer: correct per class: a 4, b 2, c 5 "):
        select_eval_subset(clips, correct, n=15, seed=0)
    correct[5:10] = False
    with pytest.raises(DataError, match=r"b 0, .* of the valid split correctly\); no balanced subset exists"):
        select_eval_subset(clips, correct, n=3, seed=0, split="valid")


@pytest.mark.parametrize(("n", "fix"), [(7, "use --n 6 or --n 9"), (2, "use --n 3"), (4, "use --n 3 or --n 6")])
def test_subset_refuses_an_n_that_cannot_be_balanced(n: int, fix: str):
    clips, correct = _clips()
    with pytest.raises(BadParameter) as info:
        select_eval_subset(clips, correct, n=n, seed=0)
    assert str(info.value) == (f"--n {n}: 3 classes, so a balanced subset needs a multiple of 3 (the same number "
                               f"of clips of each class); {fix}")


def test_bench_run_refuses_an_unbalanced_n_in_one_line(tiny_synth, tmp_path: Path):
    out = runner.invoke(app, ["run", "--n", "15", "--seeds", "1", "--steps", "1", "--no-progress", *TINY_OPTIONS,
                              "--results", str(tmp_path / "runs")])
    assert out.exit_code == 2
    assert out.output.strip().endswith("a multiple of 10 (the same number of clips of each class); use --n 10 or "
                                       "--n 20")
