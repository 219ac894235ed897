"""A cell's spec, planned in one place: what ``bench run`` records and what ``bench report`` matches.

``plan(config)`` resolves a configuration (plugins, their parameters, the run settings) into its
*configuration spec*: every requested value, defaults filled, checked, without loading data or models.
Its hash is the ``config_id`` every record stores. A running cell adds what only data and models give
(``DERIVED``: weight hashes, the split and subset hashes, the gradient mode) and its seed, and hashes the
whole into its ``cell_id``. The report finds a grid cell's records by ``(config_id, seed)``: exact, never
"contains", and computed by the same function that ran them.

Defaults for plugins, ``n``, seeds, draws and batch size live in ``RunConfig``, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attacks.base import Attack
from bench.data.base import Dataset
from bench.data.subset import check_balanced_n
from bench.errors import BadParameter
from bench.params import jsonable, resolve, signature_params
from bench.registry import REGISTRY
from bench.results import SCHEMA, cell_id

SECTIONS = ("defense", "attack", "victim", "data")
KIND = {"defense": "defense", "attack": "attack", "victim": "victim", "data": "dataset"}
VICTIM_EXTRA_KEYS = {"weights"}  # handled by the loader, not the architecture factory
# Spec paths a cell knows only once data and models are loaded (weights and data hashes, the gradient mode
# the loaded plugins give); the configuration spec leaves them out. A grid asks for a configuration; which
# weights and data it met is the cell's to record (two of them under one configuration are a conflict the
# report shows, never an average).
DERIVED: tuple[tuple[str, ...], ...] = (
    ("defense", "weights"), ("victim", "params", "weights_sha256"), ("attack", "params", "surrogate_weights"),
    ("data", "split_hash"), ("data", "subset", "hash"), ("gradient_mode",))


@dataclass
class RunConfig:
    """One ``bench run`` configuration over its seeds; every default of a run lives here."""

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
    draws: int = 10  # fresh-randomness predictions stored per final example (a deterministic defense: one)
    vote: int | None = None  # draws in the run summary's majority vote (vote@M); None: all of them
    device: str = "auto"
    results: Path = Path("results/runs")
    progress: bool = True
    score_at: list[int] = field(default_factory=list)  # steps k < steps scored as the k-step attack (PGD-k)
    compile: bool = False  # torch.compile the defended model's networks (same numbers: not in the cell id)
    dtype: str = "float32"  # the purifiers' precision: bfloat16 changes the numbers, so the cell id


RUN_SETTINGS = ("compile", "dtype")  # run settings a grid gives with -o key=value (no plugin has them)
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def run_settings(config: RunConfig) -> tuple[list[tuple[str, str]], bool, str]:
    """``config``'s plugin options without the run settings among them (``-o compile=true``, ``-o dtype=bf16``:
    how a grid sets them), and the resolved compile flag and purifier dtype."""
    compiled, dtype, rest = config.compile, config.dtype, []
    for key, value in config.options:
        name = key.removeprefix("run.")
        if name == RUN_SETTINGS[0]:
            if value.lower() not in ("true", "false", "1", "0"):
                raise BadParameter(f"-o compile={value}: use true or false")
            compiled = compiled or value.lower() in ("true", "1")
        elif name == RUN_SETTINGS[1]:
            dtype = value
        else:
            rest.append((key, value))
    if dtype not in DTYPES:
        raise BadParameter(f"--dtype {dtype}: use float32 or bf16")
    return rest, compiled, DTYPES[dtype]


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


def accepted_params(section: str, name: str) -> set[str]:
    """The parameter names ``-o section.key`` may set on plugin ``name`` of ``section``."""
    accepted = set(signature_params(REGISTRY.get(KIND[section], name).factory))
    return accepted | VICTIM_EXTRA_KEYS if section == "victim" else accepted


def check_counts(counts: dict[str, int | None]) -> None:
    """Each given count (flag → value; None: not given) is at least 1, else one line naming flag and value."""
    for flag, value in counts.items():
        if value is not None and value < 1:
            raise BadParameter(f"{flag} {value}: must be at least 1")


def checked_score_at(attack: Attack, score_at: list[int]) -> list[int]:
    """The step counts to score inside the trajectory, sorted, the final step dropped (scored anyway)."""
    wanted = sorted(set(score_at))
    if not wanted:
        return []
    steps = int(getattr(attack, "steps", 0) or 0)
    if not attack.prefix_consistent:
        raise BadParameter(f"--score-at: {attack.label()} is not the same attack when stopped early (its step size, "
                           "schedule, output or restarts depend on the step count); run one cell per step count")
    if wanted[0] < 1 or wanted[-1] > steps:
        raise BadParameter(f"--score-at {','.join(map(str, wanted))}: every step must be in 1..{steps} (--steps)")
    return [k for k in wanted if k < steps]


@dataclass
class Plan:
    """A configuration resolved: its plugins built (parameters checked), its spec and id. No data, no models."""

    config: RunConfig
    routed: dict[str, dict[str, str]]
    dataset: Dataset
    attack: Attack
    score_at: list[int]
    spec: dict[str, Any]  # the configuration spec: no seed, nothing in ``DERIVED``
    config_id: str
    compile: bool = False  # the run settings, from flags or -o (``run_settings``)
    dtype: str = "float32"


def plan(config: RunConfig) -> Plan:
    """Resolve ``config``: route ``-o`` options, build the attack and dataset objects (cheap: no data is read),
    resolve defense and victim parameters, and lay out the configuration spec."""
    check_counts({"--n": config.n, "--seeds": len(config.seeds), "--batch-size": config.batch_size,
                  "--draws": config.draws, "--vote": config.vote,
                  "--steps": config.attack_options.get("steps"), "--eot": config.attack_options.get("eot")})
    if config.vote is not None and config.vote > config.draws:
        raise BadParameter(f"--draws must be >= 1 and --vote between 1 and --draws (got {config.draws}, {config.vote})")
    plugins = {s: REGISTRY.get(KIND[s], getattr(config, s)) for s in SECTIONS}
    options, compiled, dtype = run_settings(config)
    routed = route_options(options, {s: accepted_params(s, getattr(config, s)) for s in SECTIONS})
    flags = {k: v for k, v in config.attack_options.items() if v is not None}
    clash = sorted(set(routed["attack"]) & set(flags))
    if clash:
        raise BadParameter(f"attack parameter {clash[0]!r} given twice (flag and -o); keep one")
    routed["attack"].update(flags)
    dataset, data_params = REGISTRY.create("dataset", config.data, routed["data"])
    if config.n is not None:  # a balanced subset needs as many clips of each class: refused before any data
        check_balanced_n(config.n, len(dataset.classes))
    defense_params = resolve(f"defense {config.defense!r}", plugins["defense"].factory, routed["defense"])
    spec_params = getattr(plugins["defense"].factory, "spec_params", None)  # a Defense's (checks, keeps ids)
    defense_params = spec_params(defense_params) if callable(spec_params) else defense_params
    attack, _ = REGISTRY.create("attack", config.attack, routed["attack"])
    victim_overrides = {k: v for k, v in routed["victim"].items() if k not in VICTIM_EXTRA_KEYS}
    victim_params = resolve(f"victim {config.victim!r}", plugins["victim"].factory, victim_overrides)
    score_at = checked_score_at(attack, config.score_at)
    if attack.evaluation_draws > config.draws:
        raise BadParameter(f"{attack.label()} scores each clip over {attack.evaluation_draws} fresh draws; give "
                           f"--draws {attack.evaluation_draws} or more so its record carries worst@"
                           f"{attack.evaluation_draws} and avg@{attack.evaluation_draws}")
    attack_params = attack.params()
    spec: dict[str, Any] = {
        "schema": SCHEMA,
        "defense": {"name": config.defense, "params": jsonable(defense_params)},
        "attack": {"name": config.attack, "params": attack_params},
        "victim": {"name": config.victim, "params": jsonable(victim_params)},
        "data": {"name": config.data, "params": jsonable(dataset.spec_params(data_params)), "split": config.split,
                 "subset": {"n": "all" if config.n is None else config.n, "seed": config.subset_seed}},
        "norm": attack_params.get("norm"), "eps": attack_params.get("eps"), "steps": attack_params.get("steps"),
        "eot": attack.draws_per_gradient,  # fresh draws averaged per gradient, whatever the estimator
        "draws": config.draws,
        "batch_size": config.batch_size,
        # only when asked for: it changes what the record holds
        **({"score_at": score_at} if score_at else {}),
        **({"dtype": dtype} if dtype != "float32" else {}),  # older cells (float32) keep their ids
    }
    spec = configuration_of(spec)
    return Plan(config, routed, dataset, attack, score_at, spec, cell_id(spec), compiled, dtype)


def derived_attack_params(attack: Attack) -> dict[tuple[str, ...], Any]:
    """The attack's own derived parameters (a transfer surrogate's weights hash), by spec path."""
    params = attack.params()
    return {path: params[path[2]] for path in DERIVED if path[:2] == ("attack", "params") and path[2] in params}


def cell_spec(configuration: dict[str, Any], seed: int, derived: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """The full spec of one cell: the configuration spec, the values in ``DERIVED`` and the seed."""
    spec = _copy(configuration)
    for path, value in derived.items():
        if path not in DERIVED:
            raise ValueError(f"{'.'.join(path)} is not a derived spec path")
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    spec["seed"] = seed
    return spec


def configuration_of(spec: dict[str, Any]) -> dict[str, Any]:
    """A cell spec without its seed and its derived values: the configuration spec it was planned from."""
    out = _copy(spec)
    out.pop("seed", None)
    for path in DERIVED:
        node = out
        for key in path[:-1]:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def config_id(spec: dict[str, Any]) -> str:
    """The id of a spec's configuration (16 hex digits), equal for a planned configuration and its cells."""
    return cell_id(configuration_of(spec))


def _copy(obj: Any) -> Any:
    return {k: _copy(v) for k, v in obj.items()} if isinstance(obj, dict) else obj
