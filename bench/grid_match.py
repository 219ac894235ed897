"""Which record fills a grid cell: the spec a cell's record must hold, from the grid alone.

``bench report`` finds each cell's record among whatever is on disk by comparing these expectations with
the records' specs, without loading data or models (values a run derives, such as weight and subset
hashes, are left out of the comparison).
"""

from __future__ import annotations

from typing import Any

from bench.params import jsonable, resolve, signature_params
from bench.registry import REGISTRY
from bench.runner import SECTIONS, RunConfig, route_options

_KIND = {"defense": "defense", "attack": "attack", "victim": "victim", "data": "dataset"}


def _routed(config: RunConfig) -> dict[str, dict[str, str]]:
    plugins = {s: REGISTRY.get(_KIND[s], getattr(config, s)) for s in SECTIONS}
    accepted = {s: set(signature_params(p.factory)) for s, p in plugins.items()}
    accepted["victim"] |= {"weights"}
    return route_options(config.options, accepted)


def expected_spec(config: RunConfig, seed: int) -> dict[str, Any]:
    """What the record of ``config``'s cell for ``seed`` must hold, from the grid alone (no data, no models):
    every resolved plugin parameter and run setting that goes into the spec. Values the run derives
    (None here: step sizes, weight hashes, the subset hash) are left to the record; an unset ε is the
    attack's ``default_eps`` for its norm."""
    routed = _routed(config)
    flags = {k: v for k, v in config.attack_options.items() if v is not None}
    params: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        overrides = {**routed[section], **(flags if section == "attack" else {})}
        if section == "victim":
            overrides.pop("weights", None)
        name = getattr(config, section)
        factory = REGISTRY.get(_KIND[section], name).factory
        resolved = resolve(f"{_KIND[section]} {name!r}", factory, overrides)
        if section == "attack" and resolved.get("eps") is None and resolved.get("norm") is not None:
            # the attack's own default budget: a cell at the default ε must not take a record at another ε
            resolved["eps"] = getattr(factory, "default_eps", {}).get(resolved["norm"])
        params[section] = {k: v for k, v in jsonable(resolved).items() if v is not None}
    steps = int(params["attack"].get("steps", 0) or 0)
    spec: dict[str, Any] = {
        "defense": {"name": config.defense, "params": params["defense"]},
        "attack": {"name": config.attack, "params": params["attack"]},
        "victim": {"name": config.victim, "params": params["victim"]},
        "data": {"name": config.data, "params": params["data"], "split": config.split,
                 "subset": {"n": "all" if config.n is None else config.n, "seed": config.subset_seed}},
        "seed": seed,
        "protocols": {"draws": config.draws, "vote": config.draws if config.vote is None else config.vote},
        "batch_size": config.batch_size,
        "score_at": sorted({k for k in config.score_at if k < steps}),
    }
    return spec


def spec_matches(record_spec: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Whether a record's spec holds everything ``expected_spec`` asks (plugin parameters a plugin does
    not record are skipped; ``score_at`` must be equal, absent meaning none)."""
    if sorted(record_spec.get("score_at", [])) != expected["score_at"]:
        return False
    return _contains(record_spec, {k: v for k, v in expected.items() if k != "score_at"})


def _contains(actual: Any, wanted: Any, params: bool = False) -> bool:
    if isinstance(wanted, dict):
        if not isinstance(actual, dict):
            return False
        for key, value in wanted.items():
            if key not in actual:
                if params:  # a plugin may record fewer parameters than its signature has
                    continue
                return False
            if not _contains(actual[key], value, key == "params"):
                return False
        return True
    return actual == wanted
