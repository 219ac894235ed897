"""The new attacks end to end through ``bench run`` on tiny data: records, query counts, gradient modes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.results import iter_records
from bench.runner import Run
from bench.spec import RunConfig
from tests.conftest import TINY, TINY_OPTIONS

runner = CliRunner()
BASE = ["run", "--n", "10", "--seeds", "1", "--no-progress", "--draws", "3", *TINY_OPTIONS]


def one_record(results: Path, *extra: str) -> tuple[dict, str]:
    out = runner.invoke(app, [*BASE, "--results", str(results), *extra])
    assert out.exit_code == 0, out.output
    (record,) = iter_records(results)
    return record, out.output


def test_fakebob_records_its_query_count(tmp_path: Path, tiny_synth):
    record, output = one_record(tmp_path, "--attack", "fakebob", "--steps", "3", "-o", "samples=4",
                                "-o", "nes_batch=4")
    assert record["queries"] == {"total": 10 * 4 * 4, "per_clip": 16.0,  # (steps + 1) × samples per clip
                                 "classifications": 0, "gradients": 0, "gradients_per_clip": 0.0,
                                 "classifier_gradients": 0}  # NES queries logits only: no gradient
    assert record["memory"] == {"peak_bytes": None, "baseline_bytes": None, "per_clip_bytes": None, "device": "cpu"}
    assert "16 queries/clip, 0 gradients/clip" in output
    assert record["spec"]["gradient_mode"] == "nes" and "16 queries/clip" in output
    assert record["budget"]["max_linf"] <= 0.002 + 1e-6 and record["spec"]["attack"]["params"]["sigma"] == 0.001


def test_transfer_attack_crafts_on_the_surrogate_only(tmp_path: Path, tiny_synth):
    record, output = one_record(tmp_path, "--attack", "mifgsm", "--steps", "3", "--surrogate", "resnext29")
    params = record["spec"]["attack"]["params"]
    assert params["surrogate"] == "resnext29" and params["eps"] == 0.004 and params["decay"] == 1.0
    assert params["surrogate_weights"] == f"sha256:{record['spec']['victim']['params']['weights_sha256']}"
    assert record["spec"]["gradient_mode"] == "transfer" and record["queries"]["total"] == 0
    assert record["queries"]["gradients"] == record["queries"]["classifier_gradients"] == 0
    assert "robust any_iter" in output and "released code's metric" in output


def test_bandlimited_runs_end_to_end_and_counts_its_gradients(tmp_path: Path, tiny_synth):
    record, output = one_record(tmp_path, "--attack", "bandlimited", "--steps", "2", "--eot", "2",
                                "-o", "attack.high_hz=500")
    params = record["spec"]["attack"]["params"]
    assert record["spec"]["attack"]["name"] == "bandlimited" and (params["low_hz"], params["high_hz"]) == (0.0, 500.0)
    assert record["labels"]["attack"] == "PGD-2 L∞ ε=0.002 EOT-2 band 0–500 Hz" and "band 0–500 Hz" in output
    assert record["budget"]["violations"] == 0 and record["budget"]["max_linf"] <= 0.002 + 1e-6
    assert record["queries"]["gradients"] == 2 * 2 * 10 and "4 gradients/clip" in output  # steps × EOT × clips


def test_randomized_defense_without_eot_is_flagged(tmp_path: Path, tiny_synth):
    record, output = one_record(tmp_path / "a", "--defense", "dualpure", "--attack", "apgd", "--steps", "2")
    assert record["checks"]["randomized"] and "warning: the defense is randomized" in output
    record, output = one_record(tmp_path / "b", "--defense", "dualpure", "--attack", "apgd", "--steps", "2",
                                "--eot", "2")
    assert record["checks"]["randomized"] and record["checks"]["warnings"] == [] and "warning" not in output
    assert record["spec"]["gradient_mode"] == "eot" and record["queries"]["per_clip"] == 2 * (2 + 1)  # EOT × gradients


@pytest.mark.parametrize("defense, attack, expected", [
    (["audiopure", {"grad": "adjoint"}], ["pgd", {}], "adjoint"),
    (["audiopure", {"grad": "adjoint"}], ["pgd", {"eot": 2}], "adjoint+eot"),
    (["audiopure", {"grad": "adjoint"}], ["fakebob", {}], "nes"),
    (["ddpm", {"grad": "checkpoint"}], ["pgd", {"eot": 2}], "checkpoint+eot"),
    (["dualpure", {"grad": "surrogate"}], ["pgd", {}], "surrogate"),
    (["none", {}], ["mifgsm", {"surrogate": "resnext29"}], "transfer"),
    (["dualpure", {}], ["art", {"name": "HopSkipJump"}], "query"),
])
def test_the_record_says_how_gradients_were_obtained(tiny_synth, defense, attack, expected):
    options = [(f"defense.{k}", str(v)) for k, v in defense[1].items()] + [("data.voices", str(TINY["voices"])),
                                                                           ("data.clips_per_voice", "2")]
    config = RunConfig(defense=defense[0], attack=attack[0], options=options, attack_options=attack[1], n=10,
                       seeds=[0], progress=False)
    assert Run(config, log=lambda _: None).gradient_mode() == expected
