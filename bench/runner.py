"""``bench run`` without the CLI: resolve plugins, pick the evaluation subset, run or skip each cell."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from attacks.base import Attack
from bench.checks import QUERY_ONLY
from bench.data.base import Dataset
from bench.data.subset import select_eval_subset
from bench.environment import environment, resolve_device
from bench.errors import BadParameter, BenchError, DataError
from bench.evaluate import HEADLINE, correct, evaluate_cell
from bench.io import atomic_write_json, check_writable_folder
from bench.model import DefendedModel
from bench.params import defaults, jsonable, signature_params
from bench.protocols import Protocols
from bench.registry import REGISTRY
from bench.results import SCHEMA, cell_id, failure_path, read_record, record_path, write_record
from bench.victim_loader import load_victim

SECTIONS = ("defense", "attack", "victim", "data")
_KIND = {"defense": "defense", "attack": "attack", "victim": "victim", "data": "dataset"}
VICTIM_EXTRA_KEYS = {"weights"}  # handled by the loader, not the architecture factory


@dataclass
class RunConfig:
    defense: str = "none"
    attack: str = "pgd"
    victim: str = "resnext29"
    data: str = "synth-digits"
    options: list[tuple[str, str]] = field(default_factory=list)  # ``-o key=value``, key optionally qualified
    attack_options: dict[str, Any] = field(default_factory=dict)  # --norm/--eps/--steps/--eot/--surrogate
    n: int | None = 100  # None: every test clip the bare victim classifies correctly (the whole split)
    seeds: list[int] = field(default_factory=lambda: list(range(5)))
    subset_seed: int = 0
    split: str = "test"
    batch_size: int = 100
    draws: int = 10  # fresh-randomness evaluations of each final example (avg@N, worst@N)
    vote: int | None = None  # draws in the majority vote (vote@M); None: all of them
    device: str = "auto"
    results: Path = Path("results/runs")
    progress: bool = True
    score_at: list[int] = field(default_factory=list)  # steps k < steps scored as the k-step attack (PGD-k)


@dataclass
class CellResult:
    record: dict[str, Any]
    path: Path
    skipped: bool


def route_options(pairs: Iterable[tuple[str, str]], accepted: dict[str, set[str]]) -> dict[str, dict[str, str]]:
    """Send each ``key=value`` to its plugin: ``defense.t_w`` explicitly, or a bare key to the one plugin
    of this run that has such a parameter."""
    routed: dict[str, dict[str, str]] = {s: {} for s in SECTIONS}
    for key, value in pairs:
        section, dot, name = key.partition(".")
        if dot:
            if section not in SECTIONS:
                raise BadParameter(f"-o {key}: unknown section {section!r}; use defense., attack., victim. or data.")
        else:
            owners = [s for s in SECTIONS if key in accepted[s]]
            if not owners:
                valid = ", ".join(f"{s}.{p}" for s in SECTIONS for p in sorted(accepted[s])) or "none"
                raise BadParameter(f"-o {key}: no plugin of this run has that parameter; valid: {valid}")
            if len(owners) > 1:
                raise BadParameter(f"-o {key}: ambiguous ({', '.join(owners)}); write {owners[0]}.{key}=...")
            section, name = owners[0], key
        routed[section][name] = value
    return routed


def check_counts(counts: dict[str, int | None]) -> None:
    """Each given count (flag → value; None: not given) is at least 1, else one line naming flag and value."""
    for flag, value in counts.items():
        if value is not None and value < 1:
            raise BadParameter(f"{flag} {value}: must be at least 1")


def checked_score_at(attack: Attack, score_at: Iterable[int]) -> list[int]:
    """The step counts to score inside the attack's one trajectory: sorted, unique, below its step count
    (the last step is the final examples, always scored); one clear line when the attack cannot do it."""
    wanted = sorted(set(int(k) for k in score_at))
    if not wanted:
        return []
    steps = int(getattr(attack, "steps", 0) or 0)
    if not attack.prefix_consistent:
        raise BadParameter(f"--score-at: {attack.label()} is not the same attack when stopped early (its step size, "
                           "schedule, output or restarts depend on the step count); run one cell per step count")
    if wanted[0] < 1 or wanted[-1] > steps:
        raise BadParameter(f"--score-at {','.join(map(str, wanted))}: every step must be in 1..{steps} (--steps)")
    return [k for k in wanted if k < steps]


def non_default_label(name: str, factory: Callable[..., Any], params: dict[str, Any]) -> str:
    base = defaults(factory)
    changed = [f"{k}={v}" for k, v in params.items() if k in base and base[k] != v]
    return f"{name}({', '.join(changed)})" if changed else name


class Run:
    """Everything shared by the cells of one ``bench run``: plugins, victim, subset, defended model."""

    def __init__(self, config: RunConfig, log: Callable[[str], None] = print):
        self.config, self.log = config, log
        check_counts({"--n": config.n, "--seeds": len(config.seeds), "--batch-size": config.batch_size,
                      "--draws": config.draws, "--vote": config.vote,
                      "--steps": config.attack_options.get("steps"), "--eot": config.attack_options.get("eot")})
        self.device = resolve_device(config.device)
        self.protocols = Protocols(config.draws, config.draws if config.vote is None else config.vote)
        plugins = {s: REGISTRY.get(_KIND[s], getattr(config, s)) for s in SECTIONS}
        accepted = {s: set(signature_params(p.factory)) for s, p in plugins.items()}
        accepted["victim"] |= VICTIM_EXTRA_KEYS
        routed = route_options(config.options, accepted)
        flags = {k: v for k, v in config.attack_options.items() if v is not None}
        clash = sorted(set(routed["attack"]) & set(flags))
        if clash:
            raise BadParameter(f"attack parameter {clash[0]!r} given twice (flag and -o); keep one")
        routed["attack"].update(flags)

        # every plugin is built (its parameters checked) and the results folder probed before the data is
        # built or loaded: a typo or an unwritable folder costs a second, not a dataset build or a whole run
        self.dataset: Dataset
        self.dataset, self.data_params = REGISTRY.create("dataset", config.data, routed["data"])
        self.defense, self.defense_params = REGISTRY.create("defense", config.defense, routed["defense"])
        self.attack, _ = REGISTRY.create("attack", config.attack, routed["attack"])
        check_writable_folder(config.results, "--results")
        self.dataset.prepare(progress=config.progress)
        self.data_provenance = {**self.dataset.provenance(), "not_reference": self.dataset.not_reference()}
        if self.data_provenance["not_reference"]:
            log(f"warning: {self.data_provenance['not_reference']}")
        self.victim = load_victim(config.victim, routed["victim"], self.device)
        if tuple(self.victim.card.get("classes", self.dataset.classes)) != tuple(self.dataset.classes):
            raise DataError(f"victim {config.victim!r} was trained on classes {self.victim.card['classes']}, "
                            f"dataset {config.data!r} has {list(self.dataset.classes)}")
        trained_on = self.victim.card.get("dataset", {}).get("name")
        if trained_on and trained_on != config.data:
            log(f"warning: victim {config.victim!r} was trained on {trained_on!r}, evaluated on {config.data!r}")

        crafted_on = getattr(self.attack, "classes", None)  # a transfer surrogate's classes
        if crafted_on is not None and tuple(crafted_on) != tuple(self.dataset.classes):
            raise DataError(f"attack {config.attack!r} crafts on a model of classes {list(crafted_on)}, "
                            f"dataset {config.data!r} has {list(self.dataset.classes)}; pick another surrogate")
        self.score_at = checked_score_at(self.attack, config.score_at)
        self.defense_label = non_default_label(config.defense, plugins["defense"].factory, self.defense_params)
        self.model = DefendedModel(self.victim.classifier, self.defense).to(self.device)
        self.clips = self._eval_subset()
        self.subset_hash = self.clips.content_hash()

    def _eval_subset(self):
        test = self.dataset.load(self.config.split)
        self.split_hash = test.content_hash()  # the data's identity: two folders read by one plugin differ here
        # The subset picked from these flags defines cell ids, which must be the same on every machine: float32
        # logits differ between CPU types in their last bits, enough to flip a clip whose top two nearly tie;
        # float64's differences are ~1e-9 times as large. So the bare victim runs in float64, on a copy.
        bare = torch.nn.Sequential(copy.deepcopy(self.model.frontend), copy.deepcopy(self.model.classifier))
        bare = bare.to(self.device, torch.float64).eval()
        flags = correct(lambda x: bare(x.double()), test.waves, test.labels, self.config.batch_size, self.device)
        if self.config.n is None:  # the whole split, as the paper's Table 2: every clip the victim gets right
            return test.subset([i for i, ok in enumerate(flags.tolist()) if ok])
        return select_eval_subset(test, flags, self.config.n, self.config.subset_seed)

    def gradient_mode(self) -> str:
        """How the attack's gradients were obtained: the attack's mode, joined with the defense's declared
        approximation (``adjoint``, ``bpda``) when the attack backpropagates through the defense."""
        attack = self.attack.gradient_mode
        if attack in QUERY_ONLY:  # the defense's gradient path is never used
            return attack
        parts = [m for m in (getattr(self.defense, "gradient_mode", "exact"), attack) if m != "exact"]
        return "+".join(parts) or "exact"

    def spec(self, seed: int) -> dict[str, Any]:
        attack_params = self.attack.params()
        return {
            "schema": SCHEMA,
            "defense": {"name": self.config.defense, "params": jsonable(self.defense_params),
                        "weights": self.defense.weights_info()},
            "attack": {"name": self.config.attack, "params": attack_params},
            "victim": self.victim.spec(),
            "data": {"name": self.config.data, "params": jsonable(self.dataset.spec_params(self.data_params)),
                     "split": self.config.split, "split_hash": self.split_hash,
                     "subset": {"n": "all" if self.config.n is None else self.config.n,
                                "seed": self.config.subset_seed, "hash": self.subset_hash}},
            "norm": attack_params.get("norm"), "eps": attack_params.get("eps"),
            "steps": attack_params.get("steps"), "eot": attack_params.get("eot", 1),
            "seed": seed,
            "protocols": self.protocols.spec(),
            "gradient_mode": self.gradient_mode(),
            "batch_size": self.config.batch_size,
            # only when asked for, so cells without it keep their ids; it changes what the record holds
            **({"score_at": self.score_at} if self.score_at else {}),
        }

    def run_cell(self, seed: int) -> CellResult:
        spec = self.spec(seed)
        cid = cell_id(spec)
        path = record_path(self.config.results, cid)
        existing = read_record(path)
        if existing is not None:
            return CellResult(existing, path, skipped=True)
        try:
            measured = evaluate_cell(self.model, self.attack, self.clips, seed, self.config.batch_size, self.device,
                                     self.config.progress, desc=f"seed {seed}", protocols=self.protocols,
                                     score_at=self.score_at)
        except BenchError as exc:
            atomic_write_json(failure_path(self.config.results, cid), {"cell_id": cid, "spec": spec,
                                                                       "error": str(exc)})
            raise
        record = {
            "schema": SCHEMA, "status": "ok", "cell_id": cid, "spec": spec,
            "labels": {"defense": self.defense_label, "attack": self.attack.label()},
            "subset": {"ids": self.clips.ids, "labels": self.clips.labels.tolist(), "hash": self.subset_hash},
            **measured,
            "victim_card": {k: self.victim.card.get(k) for k in ("arch", "config", "clean_test_acc", "dataset")},
            "data_provenance": self.data_provenance,
            "environment": environment(self.device),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return CellResult(record, write_record(self.config.results, record), skipped=False)


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
        status = "already done, skipped" if result.skipped else f"{r['seconds']['total']:.1f} s"
        at = "".join(f"  @{c['step']} {c['protocols'][HEADLINE]:.1f}" for c in r.get("checkpoints", []))
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
        for c in r.record.get("checkpoints", []):  # the headline protocol at each scored step, key "@k"
            columns.setdefault(f"@{c['step']}", []).append(c["protocols"][HEADLINE])
    out = {}
    for key, column in columns.items():
        values = torch.tensor(column, dtype=torch.float64)
        out[key] = (values.mean().item(), values.std().item() if len(values) > 1 else 0.0)
    return out
