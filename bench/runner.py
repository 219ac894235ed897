"""``bench run`` without the CLI: resolve plugins, pick the evaluation subset, run or skip each cell."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from bench.batch_store import BatchStore
from bench.data.base import Dataset
from bench.data.subset import select_eval_subset
from bench.environment import environment, resolve_device
from bench.errors import BenchError, DataError
from bench.evaluate import SeedShared, correct, evaluate_cell
from bench.io import atomic_write_json, check_writable_folder
from bench.model import DefendedModel
from bench.params import defaults
from bench.protocols import HEADLINE
from bench.registry import REGISTRY
from bench.results import SCHEMA, cell_id, failure_path, read_record, record_path, write_record
from bench.sanity import QUERY_ONLY
from bench.spec import KIND, RunConfig, cell_spec, derived_attack_params, plan
from bench.stats import mean_std
from bench.victim_loader import load_victim

# the bare victim's float64 flags over a split, per process: every configuration of a grid that shares the
# victim and the split picks its subset from them (the flags over a whole split cost seconds)
_FLAGS: dict[tuple[Any, ...], torch.Tensor] = {}


@dataclass
class CellResult:
    record: dict[str, Any]
    path: Path
    skipped: bool


def non_default_label(name: str, factory: Callable[..., Any], params: dict[str, Any]) -> str:
    base = defaults(factory)
    changed = [f"{k}={v}" for k, v in params.items() if k in base and base[k] != v]
    return f"{name}({', '.join(changed)})" if changed else name


class Run:
    """Everything shared by the cells of one ``bench run``: plugins, victim, subset, defended model."""

    def __init__(self, config: RunConfig, log: Callable[[str], None] = print):
        self.config, self.log = config, log
        self.plan = plan(config)  # every plugin parameter checked, nothing loaded yet
        self.device = resolve_device(config.device)
        routed = self.plan.routed
        # every plugin is built (its parameters checked) and the results folder probed before the data is
        # built or loaded: a typo or an unwritable folder costs a second, not a dataset build or a whole run
        self.dataset: Dataset = self.plan.dataset
        self.attack = self.plan.attack
        self.defense, self.defense_params = REGISTRY.create("defense", config.defense, routed["defense"])
        check_writable_folder(config.results, "--results")
        self.dataset.prepare(progress=config.progress)
        self.data_provenance = {**self.dataset.provenance(), "not_reference": self.dataset.not_reference()}
        if self.data_provenance["not_reference"]:
            log(f"warning: {self.data_provenance['not_reference']}")
        self.victim = load_victim(config.victim, routed["victim"], self.device)
        self.victim.check_classes(self.dataset.classes, config.data)
        # networks trained on other data than the run's: said once per run, and kept in every record
        trained = {f"victim {config.victim!r}": self.victim.card.get("dataset", {}).get("name"),
                   **{f"denoiser {k}": v for k, v in self.defense.training_data().items()}}
        self.domain_warnings = [f"{network} was trained on {on!r}, used on {config.data!r}: its numbers here are "
                                "outside its training domain" for network, on in trained.items()
                                if on and on != config.data]
        for warning in self.domain_warnings:
            log(f"warning: {warning}")

        crafted_on = getattr(self.attack, "classes", None)  # a transfer surrogate's classes
        if crafted_on is not None and tuple(crafted_on) != tuple(self.dataset.classes):
            raise DataError(f"attack {config.attack!r} crafts on a model of classes {list(crafted_on)}, "
                            f"dataset {config.data!r} has {list(self.dataset.classes)}; pick another surrogate")
        self.score_at = self.plan.score_at
        defense_factory = REGISTRY.get(KIND["defense"], config.defense).factory
        self.defense_label = non_default_label(config.defense, defense_factory, self.defense_params)
        dtype = torch.bfloat16 if self.plan.dtype == "bfloat16" else None
        self.model = DefendedModel(self.victim.classifier, self.defense, self.victim.frontend, dtype).to(self.device)
        self.clips = self._eval_subset()
        self.subset_hash = self.clips.content_hash()
        if self.plan.compile:  # after the subset: its float64 copy of the victim is taken from eager modules
            from bench.compiled import compile_stages

            self.model = compile_stages(self.model, self.device)
        self.shared = SeedShared()  # what the cells of this run compute once (bench.evaluate)

    def _eval_subset(self):
        test = self.dataset.load(self.config.split)
        self.split_hash = test.content_hash()  # the data's identity: two folders read by one plugin differ here
        # the subset these flags pick defines cell ids: the bare victim in float64 (``Victim.float64``)
        key = (json.dumps(self.victim.spec(), sort_keys=True, default=str), self.config.data, self.config.split,
               self.split_hash, self.config.batch_size, str(self.device))
        if key not in _FLAGS:  # keyed on content: the same victim weights on the same clips give the same flags
            _FLAGS[key] = correct(self.victim.float64(self.device), test.waves, test.labels, self.config.batch_size,
                                  self.device)
        flags = _FLAGS[key]
        if self.config.n is None:  # the whole split, as the paper's Table 2: every clip the victim gets right
            return test.subset([i for i, ok in enumerate(flags.tolist()) if ok])
        return select_eval_subset(test, flags, self.config.n, self.config.subset_seed, self.config.split)

    def gradient_mode(self) -> str:
        """How the attack's gradients were obtained: the attack's mode, joined with the defense's declared
        approximation (``adjoint``, ``bpda``) when the attack backpropagates through the defense."""
        attack = self.attack.gradient_mode
        if attack in QUERY_ONLY:  # the defense's gradient path is never used
            return attack
        parts = [m for m in (getattr(self.defense, "gradient_mode", "exact"), attack) if m != "exact"]
        return "+".join(parts) or "exact"

    def spec(self, seed: int) -> dict[str, Any]:
        """The cell's full spec: the planned configuration spec, what data and models give, and the seed."""
        return cell_spec(self.plan.spec, seed, {
            ("defense", "weights"): self.defense.weights_info(),
            ("victim", "params", "weights_sha256"): self.victim.weights_sha256,
            ("data", "split_hash"): self.split_hash, ("data", "subset", "hash"): self.subset_hash,
            ("gradient_mode",): self.gradient_mode(), **derived_attack_params(self.attack)})

    def _measure(self, seed: int, store: BatchStore) -> dict[str, Any]:
        """The cell's measurement; when an earlier seed's cell drew no randomness at all (``SeedShared``), a
        copy of it, whose ``seconds`` say which seed computed it and what its attack took."""
        source = self.shared.cell
        if source is None:
            return evaluate_cell(self.model, self.attack, self.clips, seed, self.config.batch_size, self.device,
                                 self.config.progress, desc=f"seed {seed}", draws=self.config.draws,
                                 vote=self.config.vote, score_at=self.score_at, shared=self.shared,
                                 store=store)
        started = time.perf_counter()
        measured = copy.deepcopy(source)
        measured["seconds"] = {**{k: 0.0 for k in source["seconds"]},
                               "shared": {"seed": self.shared.cell_seed, "attack": source["seconds"]["attack"]}}
        measured["seconds"]["total"] = round(time.perf_counter() - started, 3)
        return measured

    def run_cell(self, seed: int) -> CellResult:
        spec = self.spec(seed)
        cid = cell_id(spec)
        path = record_path(self.config.results, cid)
        existing = read_record(path)
        if existing is not None:
            return CellResult(existing, path, skipped=True)
        # each attacked batch is kept until the record is written: an interrupted cell resumes after them
        env = environment(self.device)  # read once: the kept batches' key and the record's environment
        store = BatchStore.for_cell(self.config.results, cid, env)
        batches = -(-len(self.clips) // self.config.batch_size)
        kept = store.usable(batches) if self.shared.cell is None else 0
        if kept:
            self.log(f"  seed {seed}: resuming after {kept} of {batches} batches an interrupted run attacked")
        try:
            measured = self._measure(seed, store)
        except BenchError as exc:
            atomic_write_json(failure_path(self.config.results, cid), {"cell_id": cid, "spec": spec,
                                                                       "error": str(exc)})
            raise
        record = {
            "schema": SCHEMA, "status": "ok", "cell_id": cid, "config_id": self.plan.config_id, "spec": spec,
            "labels": {"defense": self.defense_label, "attack": self.attack.label()},
            "subset": {"ids": self.clips.ids, "labels": self.clips.labels.tolist(), "hash": self.subset_hash},
            **measured,
            "victim_card": {k: self.victim.card.get(k) for k in ("arch", "config", "clean_test_acc", "dataset")},
            "data_provenance": self.data_provenance,
            **({"domain_warnings": self.domain_warnings} if self.domain_warnings else {}),
            "environment": {**env, **({"compiled": True} if self.plan.compile else {})},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        path = write_record(self.config.results, record)
        store.clear()
        return CellResult(record, path, skipped=False)


def run(config: RunConfig, log: Callable[[str], None] = print) -> list[CellResult]:
    """Run (or find already finished) every seed of one configuration."""
    started = time.perf_counter()
    setup = Run(config, log)
    log(f"{setup.defense_label} × {setup.attack.label()} on {config.victim}/{config.data}: "
        f"{len(setup.clips)} clips, subset {setup.subset_hash[:12]}, device {setup.device}")
    results = []
    for seed in config.seeds:
        result = setup.run_cell(seed)
        r = result.record
        shared = r["seconds"].get("shared")
        status = ("already done, skipped" if result.skipped else f"{r['seconds']['total']:.1f} s" if not shared
                  else f"seed {shared['seed']}'s cell: nothing in it is random")
        at = "".join(f"  @{c['step']} {c['protocols'][HEADLINE]:.1f}" for c in r.get("scored_steps", []))
        log(f"  seed {seed}: clean {r['clean_acc']:.1f}  robust {r['robust_acc']:.1f} ({HEADLINE}){at}  "
            f"[{r['cell_id']}] {status}")
        for warning in r["checks"]["warnings"]:
            log(f"    warning: {warning}")
        results.append(result)
    log(f"  ({time.perf_counter() - started:.1f} s in all)")
    return results


def summarize(results: list[CellResult]) -> dict[str, tuple[float, float]]:
    """Mean and sample standard deviation over seeds of the clean accuracies, of robust accuracy under
    every protocol (keyed by protocol name) and under the headline protocol at each scored step ("@k")."""
    columns: dict[str, list[float]] = {}
    for r in results:
        for key in ("clean_acc_victim", "clean_acc"):
            columns.setdefault(key, []).append(r.record[key])
        for name, value in r.record["protocols"].items():
            columns.setdefault(name, []).append(value)
        for c in r.record.get("scored_steps", []):  # the headline protocol at each scored step, key "@k"
            columns.setdefault(f"@{c['step']}", []).append(c["protocols"][HEADLINE])
    return {key: mean_std(column) for key, column in columns.items()}
