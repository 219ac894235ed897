"""Configurations of records: what ``bench report`` may average, and how it names what differs.

Records of one configuration differ only in ``spec.seed``. A configuration's key is the canonical JSON of
its spec without the seed, whatever keys the spec holds (a future ``data.identity`` splits configurations
with no change here), and nothing in the report averages records whose keys differ. Where two
configurations would otherwise share a label (a row, a column, a check's line), the label gets a suffix
naming the spec paths that differ and their values: ``none [data.subset.n=40, victim.params.weights_sha256=0117…]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from bench.results import canonical_json, cell_id

# The spec keys that describe the attack (the runner copies norm, ε, steps and EOT out of the attack's
# parameters; the gradient mode follows from the attack, the defense's part of it from the defense's
# parameters). Tables split columns by these and rows by everything else, so a key not listed here (one
# added later) separates rows: the safe side.
ATTACK_KEYS = ("attack", "norm", "eps", "steps", "eot", "score_at", "gradient_mode")
ABSENT = "—"
_SHORT = 4  # characters a long value (a hash) keeps at least, more where needed to tell two apart
_LONG = 12  # hex strings (hashes) longer than this are shortened; other values are shown whole


def config_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "seed"}


def config_key(spec: Mapping[str, Any]) -> str:
    """Canonical JSON of the spec without its seed: equal for exactly the records that may be averaged."""
    return canonical_json(config_spec(spec))


def config_id(spec: Mapping[str, Any]) -> str:
    """A short name of the configuration (16 hex digits, like a cell id), for CSV files."""
    return cell_id(config_spec(spec))


def row_part(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "seed" and k not in ATTACK_KEYS}


def column_part(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k in ATTACK_KEYS}


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """``{"a.b": canonical JSON of the leaf}``; lists and empty dicts are leaves."""
    if isinstance(obj, Mapping) and obj:
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: canonical_json(obj)}


def differing(specs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The paths whose values (absent counting as a value) are not the same in every spec, sorted."""
    flat = [flatten(s) for s in specs]
    paths = sorted({p for f in flat for p in f})
    return [p for p in paths if len({f.get(p) for f in flat}) > 1]


def _shown(text: str | None) -> str:
    """A leaf as a label shows it: strings bare, anything else as canonical JSON, absent as ``—``."""
    if text is None:
        return ABSENT
    value = json.loads(text)
    return value if isinstance(value, str) else text


def _keep(shown: set[str]) -> int:
    """Characters hashes keep: the fewest (at least ``_SHORT``) that tell every two of them apart."""
    long = [v for v in shown if _hashlike(v)]
    keep = _SHORT
    while len({v[:keep] for v in long}) < len(long):
        keep += 1
    return keep


def _hashlike(shown: str) -> bool:
    return len(shown) > _LONG and all(ch in "0123456789abcdef" for ch in shown)


def _cut(shown: str, keep: int) -> str:
    return shown[:keep] + "…" if _hashlike(shown) else shown


def suffixes(specs: Mapping[str, Mapping[str, Any]],
             paths: list[str] | Mapping[str, list[str]] | None = None) -> dict[str, str]:
    """Per key of ``specs``: `` [path=value, …]`` over ``paths`` (one list for all, or one per key; default:
    every path that differs among them), or "" when there is none. Deterministic: paths sorted, hashes cut
    to the shortest prefix (at least 4 characters) that tells them apart among all of ``specs``."""
    if paths is None:
        paths = differing(specs.values())
    wanted = {k: sorted(paths[k] if isinstance(paths, Mapping) else paths) for k in specs}
    every = sorted({p for ps in wanted.values() for p in ps})
    shown = {k: {p: _shown(f.get(p)) for p in every} for k, f in ((k, flatten(s)) for k, s in specs.items())}
    keep = {p: _keep({v[p] for v in shown.values()}) for p in every}
    return {k: " [" + ", ".join(f"{p}={_cut(shown[k][p], keep[p])}" for p in ps) + "]" if ps else ""
            for k, ps in wanted.items()}


def labelled(specs: Mapping[str, Mapping[str, Any]], base: Mapping[str, str]) -> dict[str, str]:
    """Per key: its ``base`` label, with a suffix naming what differs where two keys share that label."""
    groups: dict[str, dict[str, Mapping[str, Any]]] = {}
    for key, spec in specs.items():
        groups.setdefault(base[key], {})[key] = spec
    out = {}
    for label, group in groups.items():
        out.update({k: label + s for k, s in suffixes(group).items()})
    return out


def bare(suffix: str) -> str:
    """A suffix without its brackets: `` [a=1, b=[2]]`` → ``a=1, b=[2]``."""
    return suffix[2:-1] if suffix else ""
