"""What defines data is the same on every machine: a portable random stream and a build that no CPU kernel
choice changes (torch's float32 CPU kernels differ between CPU types; ATEN_CPU_CAPABILITY picks one here)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.seeding import PortableRandom
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def test_portable_stream_is_pcg64_read_by_integer_arithmetic():
    """Known answers: the same words and numbers on every CPU, OS and numpy version (PCG64's raw stream and
    its seeding are fixed by the algorithm; everything else here is integer arithmetic)."""
    words = PortableRandom(0, "known-answer").words(3).tolist()
    assert words == [6287478226213166639, 14060901662714407611, 18198487421583993865]
    assert PortableRandom(0, "known-answer").uniform(2).tolist() == [(w >> 11) * 2.0**-53 for w in words[:2]]
    assert PortableRandom(0, "known-answer").normal(2).tolist() == [0.525970458984375, -0.2605133056640625]
    assert PortableRandom(1, "known-answer").words(1)[0] != words[0]


def test_portable_normal_is_standard_and_bounded_and_permutation_is_one():
    x = PortableRandom(3, "normal").normal(200_000)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01 and np.abs(x).max() <= 6
    assert np.all(x * 65536 == np.round(x * 65536))  # exact multiples of 2^-16: no rounding anywhere
    order = PortableRandom(3, "perm").permutation(1000)
    assert sorted(order) == list(range(1000)) and order != list(range(1000))


def test_tiny_build_is_the_same_under_the_scalar_torch_cpu_kernels(tiny_synth, tmp_path: Path):
    """The old build drew its noise with float32 torch.randn, whose vectorised and scalar CPU kernels give
    different numbers: its content hash changed under ATEN_CPU_CAPABILITY=default. This one must not."""
    code = ("from bench.data.synth_digits import SynthDigits; import json; d = SynthDigits(**json.loads(__import__("
            "'sys').argv[1])); d.prepare(progress=False); print(d.info()['content_hash'])")
    env = {**os.environ, "SCRBENCH_HOME": str(tmp_path), "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(TINY)], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == tiny_synth.info()["content_hash"]


def test_a_build_that_is_not_the_reference_is_said_once_and_recorded(tiny_synth, tmp_path: Path, monkeypatch):
    """Pretend the tiny build is the default one: its hash is not the pinned reference's, as on an unforeseen
    platform. `bench data prepare` says so beside the hash; `bench run` warns once and records why."""
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.data.synth_digits import REFERENCE_BUILD, SynthDigits
    from tests.conftest import TINY_OPTIONS

    runner = CliRunner()
    prepare = ["data", "prepare", "synth-digits", *(a.replace("data.", "") for a in TINY_OPTIONS)]
    out = runner.invoke(app, prepare)
    assert out.exit_code == 0 and f"content hash {tiny_synth.info()['content_hash']} (no reference build" in out.output
    monkeypatch.setattr(SynthDigits, "is_default_build", lambda self: True)
    out = runner.invoke(app, prepare)
    assert f"differs from the reference build's {REFERENCE_BUILD['content_hash']}" in out.output
    out = runner.invoke(app, ["run", "--steps", "1", "--n", "10", "--seeds", "2", "--no-progress", *TINY_OPTIONS,
                              "--results", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert out.output.count("results are not comparable with results/reference/") == 1
    assert f"espeak-ng {tiny_synth.info()['espeak_ng']}" in out.output and platform.machine() in out.output
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    assert len(records) == 2 and all(r["data_provenance"]["matches_reference"] is False for r in records)
    assert all("not comparable" in r["data_provenance"]["not_reference"] for r in records)
