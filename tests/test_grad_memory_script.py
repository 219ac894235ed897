"""scripts/grad_memory.py: one PGD step's memory under each gradient mode, and its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "grad_memory.py"


def _script():
    spec = importlib.util.spec_from_file_location("grad_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checkpoint_saves_less_than_exact_in_a_pgd_step():
    script = _script()
    rows = [script.measure_one("ddpm", grad, "slim", "resnext29", 1, torch.device("cpu"))
            for grad in ("exact", "checkpoint")]
    assert all(r["finite"] for r in rows)
    assert 0 < rows[1]["saved_per_clip"] < 0.5 * rows[0]["saved_per_clip"]
    lines = script.table(rows).splitlines()
    assert len(lines) == 4 and "| ddpm | checkpoint | slim | 1 |" in lines[3] and "CUDA" not in lines[0]
