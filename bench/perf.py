"""``bench perf``: what a defense costs per clip (the paper's Table 4 and more), written as records.

Per (defense, device, batch, config, mode) one record measures, on 1 s clips of the default victim:

- ``seconds_per_clip``: purification, ``DefendedModel.purify`` under ``no_grad`` (wave purifier → the victim's
  frontend → mel purifier; no classifier: the ``none`` row is the frontend alone);
- ``attack_step_seconds_per_clip``: one attack step, forward and backward of the cross-entropy through the
  whole defended model to the input wave (the defense's default, exact, gradients);
- ``memory``: the peak memory each of the two added per clip (``bench.peak_memory``: the CUDA allocator's
  peak, or RSS growth on CPU; the record names the method).

``config`` is the networks' size (``slim``: the shipped trained ones; ``paper``: the published sizes, with
random weights where no trained ones exist, labelled ``random weights (timing only)``: their outputs are
meaningless, their cost is the real one). ``mode`` is ``eager`` or ``compiled`` (``bench.compiled``).
Warm-up calls are excluded from the timings (the first call, which compiles, is kept apart as
``first_call_seconds``); on CUDA the device is synchronised before each clock read, because kernels run
asynchronously and the clock would otherwise stop before the work does.

Records are ``<defense>-<device>-b<batch>-<config>-<mode>.perf.json``; measuring again replaces one. Records
of schema 1 (purification only, ``<defense>-<device>-b<batch>.perf.json``) are still read, as slim and eager.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import save_file
from torch import nn

from bench.compiled import compile_settings, compile_stages
from bench.environment import environment, resolve_device
from bench.errors import BadParameter, CheckpointError
from bench.io import atomic_write_json
from bench.model import DefendedModel
from bench.params import jsonable, signature_params
from bench.peak_memory import peak_memory
from bench.registry import REGISTRY
from bench.report.format import fmt_duration
from bench.stats import mean_std
from bench.victim_loader import build_classifier, victim_frontend
from bench.weights import load_weights, shipped_weights

PERF_SCHEMA = 2
READ_SCHEMAS = (1, 2)  # schema 1: purification only, slim, eager
SUFFIX = ".perf.json"
DIFFUSION = ("audiopure", "ddpm", "diffrev", "oneshot", "dualpure")  # the paper's Table 4 rows
SAMPLES = 16000
VICTIM = "resnext29"  # whose frontend and classifier are timed: the default victim's
CONFIGS = ("slim", "paper")
MODES = ("eager", "compiled")
TRAINED, RANDOM, NO_NETWORK = "trained", "random weights (timing only)", "no network"
WEIGHTS_SEED = 0  # the random weights' seed: the same networks on every run
WARMUP = 2  # untimed calls before the timed ones: the first compiles; on CUDA the second records the CUDA graph
T = TypeVar("T")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int, device: torch.device) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones, device synchronised."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - started)
    return times


def _summary(per_clip: list[float]) -> dict[str, Any]:
    mean, std = mean_std(per_clip)
    return {"mean": mean, "std": std, "min": min(per_clip), "runs": per_clip}


def _seeded(build: Callable[[], T]) -> T:
    # nn.init draws from torch's default generator (a network is initialised before its weights load): seed
    # a forked copy of it, so random networks are the same every run and the caller's stream is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        return build()


def build_victim(config: str) -> tuple[nn.Module, nn.Module, str]:
    """The default victim's classifier in ``config`` (its shipped weights, else random ones), its frontend,
    and which weights it has (``trained`` or ``random weights (timing only)``)."""
    classifier, params = _seeded(lambda: build_classifier(VICTIM, {"config": config}))
    path = shipped_weights("victim", VICTIM, str(params.get("config", config)))
    if path is not None:
        load_weights(classifier, path)
    return classifier.eval().requires_grad_(False), victim_frontend(VICTIM).eval(), TRAINED if path else RANDOM


def build_defense(name: str, config: str, folder: Path) -> tuple[nn.Module, dict[str, Any], str]:
    """Defense ``name`` at its default parameters with networks of ``config``: trained weights where they
    ship, else random ones of the same size, written under ``folder`` and passed as ``weights``. Returns the
    defense, its parameters (a random weights file named by the label, not its temporary path) and the label."""
    return _seeded(lambda: _build_defense(name, config, folder))


def _build_defense(name: str, config: str, folder: Path) -> tuple[nn.Module, dict[str, Any], str]:
    accepted = set(signature_params(REGISTRY.get("defense", name).factory))
    if "config" not in accepted:  # no network, or none whose size is configured: slim and paper are one
        defense, params = REGISTRY.create("defense", name)
        return defense, params, TRAINED if defense.weights_info() else NO_NETWORK
    try:
        defense, params = REGISTRY.create("defense", name, {"config": config})
        return defense, params, TRAINED if defense.weights_info() else NO_NETWORK
    except CheckpointError:
        if "weights" not in accepted:
            raise
    # which denoiser it loads: ask the slim defense, whose weights ship
    nets = [info["name"] for info in REGISTRY.create("defense", name)[0].weights_info().values()]
    if len(nets) != 1:
        raise BadParameter(f"defense {name!r} loads {len(nets)} networks; `bench perf --config {config}` can "
                           "stand random weights in for one only: train or convert its networks first")
    path = folder / f"{nets[0]}-{config}-random.safetensors"
    if not path.is_file():
        net = _seeded(lambda: REGISTRY.get("denoiser", nets[0]).factory(config=config))
        save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    defense, params = REGISTRY.create("defense", name, {"config": config, "weights": str(path)})
    return defense, {**params, "weights": RANDOM}, RANDOM


def measure(model: DefendedModel, batch: int, repeats: int, device: torch.device, warmup: int = WARMUP,
            seed: int = 0) -> dict[str, Any]:
    """The measurements of one record: seconds per clip of purification and of an attack step at batch size
    ``batch``, their first calls' seconds (compilation included) and the peak memory each added per clip."""
    generator = torch.Generator(device=device).manual_seed(seed)
    wave = (0.1 * torch.randn(batch, 1, SAMPLES, generator=generator, device=device)).clamp(-1, 1)
    labels = torch.zeros(batch, dtype=torch.long, device=device)

    @torch.no_grad()
    def purify() -> torch.Tensor:
        return model.purify(wave, generator)

    def attack_step() -> torch.Tensor:
        x = wave.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(x, generator), labels)
        return torch.autograd.grad(loss, x)[0]

    out: dict[str, Any] = {"first_call_seconds": {}, "memory": {}}
    for stage, fn, key in (("purify", purify, "seconds_per_clip"),
                           ("attack_step", attack_step, "attack_step_seconds_per_clip")):
        out["first_call_seconds"][stage] = time_calls(fn, 1, 0, device)[0]
        out[key] = _summary([t / batch for t in time_calls(fn, repeats, max(0, warmup - 1), device)])
        out["memory"][stage] = peak_memory(fn, device, batch)
    return out


def _names(defenses: Iterable[str] | None, configs: Iterable[str], modes: Iterable[str]) -> list[str]:
    names = list(defenses or REGISTRY.names("defense"))
    for name in names:
        REGISTRY.get("defense", name)  # one clear line for an unknown name, before any timing
    for flag, given, valid in (("--config", configs, CONFIGS), ("--modes", modes, MODES)):
        bad = [g for g in given if g not in valid]
        if bad or not given:
            raise BadParameter(f"{flag} {','.join(given)}: give one or more of {','.join(valid)}, comma separated")
    return names


def run_perf(defenses: Iterable[str] | None, batches: Iterable[int], repeats: int, device: str, out: Path,
             threads: int | None = None, log: Callable[[str], None] = print, configs: Iterable[str] = ("slim",),
             modes: Iterable[str] = ("eager",)) -> list[dict[str, Any]]:
    """Measure every defense (default: every registered one) at every batch size, configuration and mode
    on every device of ``device`` (comma separated); write and return the records."""
    configs, modes = list(configs), list(modes)
    names = _names(defenses, configs, modes)
    batches = sorted(set(batches))
    if not batches or batches[0] < 1 or repeats < 1:
        raise BadParameter("--batch and --repeats must be at least 1")
    devices = [resolve_device(d.strip()) for d in device.split(",") if d.strip()]  # e.g. "cpu,cuda": both
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    records = []
    try:  # the thread count is process-wide: restore it, so a caller's later work runs as before
        with tempfile.TemporaryDirectory(prefix="bench-perf-") as folder:
            for dev, config, mode in ((d, c, m) for d in devices for c in configs for m in modes):
                classifier, frontend, victim_weights = build_victim(config)  # fresh: compiling is in place
                for name in names:
                    defense, params, weights = build_defense(name, config, Path(folder))
                    model = DefendedModel(classifier, defense, frontend).to(dev)
                    if mode == "compiled":
                        compile_stages(model, dev)
                    label = RANDOM if RANDOM in (weights, victim_weights) else TRAINED
                    for batch in batches:
                        record = {"kind": "perf", "schema": PERF_SCHEMA, "defense": name, "params": jsonable(params),
                                  "config": config, "mode": mode, "weights": label,
                                  "compile": compile_settings(dev) if mode == "compiled" else None,
                                  "networks": {"defense": weights, "victim": victim_weights},
                                  "device": dev.type, "batch": batch, "repeats": repeats, "warmup": WARMUP,
                                  **measure(model, batch, repeats, dev),
                                  "environment": environment(dev),
                                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                        atomic_write_json(Path(out) / record_name(record), record)
                        log(record_line(record))
                        records.append(record)
    finally:
        torch.set_num_threads(previous)
    return records


def record_name(record: dict[str, Any]) -> str:
    return (f"{record['defense']}-{record['device']}-b{record['batch']}-{record['config']}-{record['mode']}"
            f"{SUFFIX}")


def record_line(record: dict[str, Any]) -> str:
    """One printed line per record: purification and attack step per clip, attack-step memory per clip."""
    p, a = record["seconds_per_clip"], record["attack_step_seconds_per_clip"]
    mib = record["memory"]["attack_step"]["per_clip_bytes"]
    memory = "" if mib is None else f", attack-step memory {mib / 2**20:.1f} MiB"
    note = f"  [{record['weights']}]" if record["weights"] == RANDOM else ""
    return (f"{record['defense']:<14} {record['device']:<5} {record['config']:<5} {record['mode']:<8} batch "
            f"{record['batch']:>3}: per clip purify {fmt_duration(p['mean'], p['std'])}, attack step "
            f"{fmt_duration(a['mean'], a['std'])}{memory}{note}")


def setting_label(device: str, config: str, mode: str) -> str:
    """``cpu`` for the slim networks run eagerly, else with what differs: ``cuda paper compiled``."""
    return device + "".join(f" {v}" for v, usual in ((config, "slim"), (mode, "eager")) if v != usual)


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    """A perf record with the fields schema 1 lacked filled in: slim networks, trained, eager."""
    return {"config": "slim", "mode": "eager", "weights": TRAINED, **record}


def load_perf(folder: Path | None) -> list[dict[str, Any]]:
    """Every perf record under ``folder`` (recursively), in path order, ``normalised``; none when it does
    not exist."""
    if folder is None or not Path(folder).is_dir():
        return []
    out = []
    for path in sorted(Path(folder).rglob(f"*{SUFFIX}")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("kind") == "perf" and record.get("schema") in READ_SCHEMAS:
            out.append(normalised(record))
    return out


PerfKey = tuple[str, str, int, str, str]  # defense, device, batch, config, mode


def perf_lookup(records: list[dict[str, Any]]) -> dict[PerfKey, dict[str, Any]]:
    """(defense, device, batch, config, mode) → the newest record for it."""
    table: dict[PerfKey, dict[str, Any]] = {}
    for r in sorted((normalised(r) for r in records), key=lambda r: r.get("created", "")):
        table[(r["defense"], r["device"], int(r["batch"]), r["config"], r["mode"])] = r
    return table
