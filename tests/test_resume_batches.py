"""An interrupted cell resumes after the batches it attacked (``bench.batch_store``), to the record an
uninterrupted run gives; a batch from another environment, or a torn file, is attacked again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from attacks.adaptive import AdaptiveSuite
from attacks.base import Attack
from attacks.pgd import PGD
from bench.batch_store import FOLDER, AttackedBatch, BatchStore
from bench.evaluate import evaluate_cell
from bench.results import iter_records
from tests.test_attacks_contract import toy_model
from tests.test_cli import bench_run
from tests.test_shortcuts import _clips

CPU = torch.device("cpu")
ATTACKS = {
    "pgd": lambda: PGD(eps=0.01, steps=3, random_start=True),
    "adaptive": lambda: AdaptiveSuite(eps=0.01, evaluations=2, members="pgd:steps=2+pgd:steps=1:eot=2"),
}


class Interrupted(Exception):
    pass


def interrupt_at(attack: Attack, batch: int) -> list[int]:
    """Make ``attack`` stop the process at its ``batch``-th batch (counting from 0); the calls it saw."""
    calls: list[int] = []
    perturb = attack.perturb

    def stopping(*args: Any, **kwargs: Any):
        calls.append(len(calls))
        if len(calls) == batch + 1:
            raise Interrupted
        return perturb(*args, **kwargs)

    attack.perturb = stopping  # type: ignore[method-assign]
    return calls


def _measured(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("seconds", "resumed_batches")}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_interrupted_cell_resumes_to_the_record_of_an_uninterrupted_run(tmp_path: Path, name: str):
    model = toy_model(sigma=0.05)  # randomized: every batch draws from its own streams
    clips = _clips(model, 10)  # batches of 4: three batches
    args = dict(progress=False, draws=3, score_at=(1,) if name == "pgd" else ())
    whole = evaluate_cell(model, ATTACKS[name](), clips, 0, 4, CPU, **args)

    store = BatchStore(tmp_path / "b", {"env": "here"})
    first = ATTACKS[name]()
    interrupt_at(first, 2)
    with pytest.raises(Interrupted):
        evaluate_cell(model, first, clips, 0, 4, CPU, store=store, **args)
    assert sorted(p.name for p in store.folder.iterdir()) == ["0.pt", "1.pt"] and store.usable(3) == 2

    second = ATTACKS[name]()
    calls = interrupt_at(second, 99)
    resumed = evaluate_cell(model, second, clips, 0, 4, CPU, store=store, **args)
    assert len(calls) == 1  # only the third batch was attacked again
    assert resumed["resumed_batches"] == 2 and "resumed_batches" not in whole
    assert _measured(resumed) == _measured(whole)  # examples, draws, any_iter, queries, members: all the same
    assert resumed["seconds"]["attack"] >= sum(store.load(b).attack_seconds for b in (0, 1))


def test_a_batch_from_another_environment_or_a_torn_file_is_attacked_again(tmp_path: Path):
    batch = AttackedBatch(torch.zeros(2, 1, 8), torch.tensor([-1, 3]), {2: torch.ones(2, 1, 8)},
                          {"wrong_draws": [[0, 1]]}, {"queries": 8}, True, 1.5, 0.25, None)
    here = BatchStore(tmp_path, {"code": {"commit": "abc"}, "threads": 1})
    here.save(0, batch)
    loaded = here.load(0)
    assert loaded is not None and torch.equal(loaded.kept[2], batch.kept[2]) and loaded.outcomes == batch.outcomes
    assert (loaded.counts, loaded.drew, loaded.attack_seconds, loaded.tracking_seconds) == ({"queries": 8}, True,
                                                                                            1.5, 0.25)
    assert BatchStore(tmp_path, {"code": {"commit": "abd"}, "threads": 1}).load(0) is None  # other code
    assert BatchStore(tmp_path, {"code": {"commit": "abc"}, "threads": 2}).load(0) is None  # other threads
    (tmp_path / "1.pt").write_bytes((tmp_path / "0.pt").read_bytes()[:100])  # a torn write
    assert here.load(1) is None and here.usable(2) == 1


class StopsOnce(PGD):
    """PGD that stops the first ``bench run`` it is in at its second batch, as a killed process would."""

    armed = True
    calls = 0

    def perturb(self, *args: Any, **kwargs: Any):
        StopsOnce.calls += 1
        if StopsOnce.armed and StopsOnce.calls == 2:
            StopsOnce.armed = False
            raise KeyboardInterrupt
        return super().perturb(*args, **kwargs)


def test_bench_run_resumes_an_interrupted_cell_and_removes_its_batches(tmp_path: Path, tiny_synth,
                                                                      temporary_plugin):
    temporary_plugin("attack", "stops-once", StopsOnce)
    StopsOnce.armed, StopsOnce.calls = True, 0
    options = ("--attack", "stops-once", "--seeds", "1", "--batch-size", "4", "-o", "attack.random_start=true")
    stopped = bench_run(tmp_path / "runs", *options)  # as Ctrl-C at the second batch
    assert stopped.exit_code == 130 and "attacked batches are saved" in stopped.output
    assert not list(iter_records(tmp_path / "runs"))
    assert [p.name for p in (tmp_path / "runs" / FOLDER).glob("*/*.pt")] == ["0.pt"]
    StopsOnce.calls = 0
    out = bench_run(tmp_path / "runs", *options)
    assert out.exit_code == 0, out.output
    assert "resuming after 1 of 3 batches an interrupted run attacked" in out.output
    assert StopsOnce.calls == 2  # batches 1 and 2
    (record,) = iter_records(tmp_path / "runs")
    assert record["resumed_batches"] == 1 and not (tmp_path / "runs" / FOLDER).exists()

    StopsOnce.calls = 0  # the same cell from nothing gives the same numbers
    fresh = bench_run(tmp_path / "fresh", *options)
    assert fresh.exit_code == 0 and StopsOnce.calls == 3
    (whole,) = iter_records(tmp_path / "fresh")
    assert {**_measured(record), "created": None} == {**_measured(whole), "created": None}
