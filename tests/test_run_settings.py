"""Run settings that are not plugin parameters: ``--dtype`` (in the cell id) and ``--compile`` (not in it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BadParameter
from bench.grid import expand, load_grid
from bench.model import DefendedModel
from bench.spec import RunConfig, plan
from defenses.base import Defense
from tests.conftest import TINY_OPTIONS
from tests.test_attacks_contract import tiny_mel_net, toy_waves

runner = CliRunner()
RUN = ["run", "--steps", "1", "--n", "10", "--seeds", "1", "--no-progress", *TINY_OPTIONS]


class Halve(Defense):
    """A wave purifier with a network: one linear map per sample, so its precision shows in the output."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Conv1d(1, 1, 3, padding=1)

    def purify_wave(self, wave: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self.seen = self.net(wave).dtype
        return 0.5 * self.net(wave)


def test_bf16_runs_the_purifiers_under_autocast_and_the_victim_in_float32():
    torch.manual_seed(0)
    defense = Halve()
    eager = DefendedModel(tiny_mel_net(), defense)
    mixed = DefendedModel(tiny_mel_net(), defense, purifier_dtype=torch.bfloat16)
    x = toy_waves(4)
    assert mixed.purify(x).dtype == torch.float32 and defense.seen == torch.bfloat16
    assert eager(x).dtype == torch.float32 and defense.seen == torch.float32
    assert not torch.equal(eager(x), mixed(x)) and torch.allclose(eager(x), mixed(x), atol=0.05, rtol=0.05)


def test_dtype_is_part_of_the_cell_id_and_compile_is_not():
    base = plan(RunConfig())
    bf16 = plan(RunConfig(options=[("dtype", "bf16")]))
    assert bf16.spec["dtype"] == "bfloat16" and "dtype" not in base.spec and bf16.config_id != base.config_id
    assert plan(RunConfig(dtype="bf16")).config_id == bf16.config_id
    compiled = plan(RunConfig(options=[("run.compile", "true")]))
    assert compiled.compile and not base.compile and compiled.config_id == base.config_id
    for bad in ([("dtype", "fp16")], [("compile", "maybe")]):
        with pytest.raises(BadParameter):
            plan(RunConfig(options=bad))


def test_a_grid_passes_the_run_settings_to_every_cell(tmp_path: Path):
    runs = expand(load_grid("table1"), "quick", tmp_path, [("compile", "true"), ("dtype", "bf16")])
    assert runs and all(plan(r.config).compile and plan(r.config).dtype == "bfloat16" for r in runs)


def test_bench_run_records_bf16_as_a_cell_of_its_own(tmp_path: Path, tiny_synth):
    out = runner.invoke(app, [*RUN, "--results", str(tmp_path), "--dtype", "bf16"])
    assert out.exit_code == 0, out.output
    again = runner.invoke(app, [*RUN, "--results", str(tmp_path)])
    assert again.exit_code == 0 and "skipped" not in again.output  # float32 is another cell
    specs = [json.loads(p.read_text())["spec"] for p in sorted(tmp_path.glob("*.json"))]
    assert sorted(s.get("dtype", "float32") for s in specs) == ["bfloat16", "float32"]
    bad = runner.invoke(app, [*RUN, "--results", str(tmp_path), "--dtype", "half"])
    assert bad.exit_code == 2 and "--dtype half: use float32 or bf16" in bad.output


@pytest.mark.slow
def test_bench_run_compile_keeps_the_cell_and_its_numbers(tmp_path: Path, tiny_synth):
    eager = runner.invoke(app, [*RUN, "--results", str(tmp_path / "eager")])
    compiled = runner.invoke(app, [*RUN, "--results", str(tmp_path / "compiled"), "--compile"])
    assert eager.exit_code == 0 and compiled.exit_code == 0, compiled.output
    (a,), (b,) = ([json.loads(p.read_text()) for p in (tmp_path / d).glob("*.json")] for d in ("eager", "compiled"))
    assert a["cell_id"] == b["cell_id"] and b["environment"]["compiled"] and "compiled" not in a["environment"]
    assert a["per_sample"]["linf"] == pytest.approx(b["per_sample"]["linf"], rel=1e-3)
    assert a["per_sample"]["robust"] == b["per_sample"]["robust"]


def test_networks_trained_on_other_data_warn_once_and_are_recorded(tmp_path: Path, tiny_synth, temporary_plugin):
    from bench.data.synth_digits import SynthDigits
    from bench.runner import Run

    temporary_plugin("dataset", "synth-other", SynthDigits)  # the same clips under another dataset's name
    said: list[str] = []
    config = RunConfig(defense="dualpure", data="synth-other", n=10, seeds=[0], attack_options={"steps": 1},
                       options=[("data.voices", "2"), ("data.clips_per_voice", "2")], results=tmp_path, progress=False)
    run = Run(config, log=said.append)
    warned = [line for line in said if "was trained on 'synth-digits', used on 'synth-other'" in line]
    assert len(warned) == 2 and any("victim 'resnext29'" in w for w in warned)
    assert any("denoiser meldiff (slim)" in w for w in warned)
    assert run.run_cell(0).record["domain_warnings"] == run.domain_warnings and len(run.domain_warnings) == 2
