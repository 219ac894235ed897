"""The report's sanity checks, from records only (the papers' findings live in ``bench.papers``).

Each check is ``pass``, ``warn`` or ``n/a`` (no record it applies to) with one line of evidence. Where two
accuracies are compared, "within noise" means within a two-sided 95% normal interval of the difference of
two binomial proportions over ``n`` clips × seeds each; the variance is floored at 1/n so that 0% and 100%
still get a one-clip slack.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attacks.norms import get_norm
from bench.errors import BenchError
from bench.protocols import HEADLINE
from bench.report.configs import config_key, config_spec, labelled
from bench.sanity import QUERY_ONLY
from bench.stats import mean_std

LARGE = 10  # a "large" budget is at least LARGE × the paper's
NOT_ENOUGH = "not enough records"


def _default_eps(norm: str | None) -> float | None:
    """The papers' budget for a recorded norm (the norm object's ``default_eps``); None for an unknown norm."""
    try:
        return get_norm(str(norm), "record").default_eps
    except BenchError:
        return None


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | warn | n/a
    detail: str


def noise(p1: float, p2: float, n: int) -> float:
    """Percentage points two accuracies over ``n`` draws each may differ by chance (95%)."""
    p = (p1 + p2) / 200
    return 196 * math.sqrt(2 * max(p * (1 - p), 1 / n) / n)


def _without(spec: dict[str, Any], top: tuple[str, ...], attack: tuple[str, ...]) -> str:
    s = {k: v for k, v in spec.items() if k not in top}
    s["attack"] = {**s["attack"], "params": {k: v for k, v in s["attack"]["params"].items() if k not in attack}}
    return json.dumps(s, sort_keys=True)


def _trajectory(r: dict[str, Any]) -> list[tuple[int, float]]:
    points = [(c["step"], c["protocols"][HEADLINE]) for c in r.get("scored_steps", [])]
    return sorted(points + [(int(r["spec"].get("steps") or 0), r["protocols"][HEADLINE])])


def _monotone(records: list[dict[str, Any]], axis: str) -> Check:
    """Robust accuracy non-increasing in ``axis`` (eps or steps) over records equal in everything else.
    Each point is one configuration's mean over seeds; where two configurations share a value (a PGD-10
    scored inside a longer run beside a plain PGD-10), each is compared with each at the next value."""
    groups: dict[str, dict[float, dict[str, list[dict[str, Any]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    drop = ("seed", "eps") if axis == "eps" else ("seed", "steps", "score_at")
    drop_attack = ("eps", "step_size") if axis == "eps" else ("steps",)
    for r in records:
        if r["spec"].get(axis) is not None:
            groups[_without(r["spec"], drop, drop_attack)][float(r["spec"][axis])][config_key(r["spec"])].append(r)
    series: list[list[list[tuple[float, float, int]]]] = []  # per series, per value: one point per configuration
    for by_value in groups.values():
        values = [[(value, mean_std([x["protocols"][HEADLINE] for x in rs])[0], sum(x["n"] for x in rs))
                   for _, rs in sorted(configs.items())] for value, configs in sorted(by_value.items())]
        if len(values) > 1:
            series.append(values)
    if axis == "steps":  # and inside each trajectory scored at several steps
        series += [[[(float(k), v, r["n"])] for k, v in _trajectory(r)] for r in records if r.get("scored_steps")]
    bad = [f"{a[1]:.1f}→{b[1]:.1f} at {axis} {a[0]:g}→{b[0]:g}" for s in series
           for here, there in zip(s, s[1:], strict=False) for a in here for b in there
           if b[1] > a[1] + noise(a[1], b[1], min(a[2], b[2]))]
    name = f"robust accuracy non-increasing in {'ε' if axis == 'eps' else 'steps'} (within binomial noise)"
    if not series:
        return Check(name, "n/a", f"no records differing only in {axis}")
    if bad:
        return Check(name, "warn", f"{len(bad)} increase(s) beyond noise in {len(series)} series: {'; '.join(bad[:3])}")
    return Check(name, "pass", f"{len(series)} series, none increases beyond noise")


def _at_step(r: dict[str, Any], step: int) -> float | None:
    return dict(_trajectory(r)).get(step)


def sanity_checks(records: list[dict[str, Any]]) -> list[Check]:
    """Every sanity check over every record: budgets, monotonicity, controls, large ε, white vs black box,
    EOT on randomized defenses, clean accuracies (the checks RobustBench and AutoAttack's authors ask of a
    randomized defense's evaluation)."""
    if not records:
        return [Check("records", "n/a", "no records")]
    checks = []
    broken = [r for r in records for b in [r["budget"], *(c.get("budget", {}) for c in r.get("scored_steps", []))]
              if b.get("violations", 0) or b.get("out_of_range", 0) or b.get("non_finite", 0)]
    checks.append(Check("perturbation budget respected everywhere", "warn" if broken else "pass",
                        f"{len(broken)} of {len(records)} records break their ε-ball or range" if broken else
                        f"all {len(records)} records (and their scored iterates) within ε and [-1, 1]"))
    checks += [_monotone(records, "eps"), _monotone(records, "steps")]

    control: dict[str, list[dict[str, Any]]] = defaultdict(list)  # configuration → its records
    for r in records:
        s = r["spec"]
        if s["defense"]["name"] == "none" and s["attack"]["name"] == "pgd" and s.get("eot", 1) == 1 and \
                s.get("eps") == _default_eps(s.get("norm")) and _at_step(r, 10) is not None:
            control[config_key(s)].append(r)
    name = "undefended control ≤ 2% under PGD-10"
    means = {k: mean_std([_at_step(r, 10) for r in rs])[0] for k, rs in control.items()}
    labels = _labels(control, _victim_norm)  # one configuration each: another victim's weights is another line
    high = {labels[k]: v for k, v in means.items() if v > 2}
    pairs = len({_victim_norm(rs[0]["spec"]) for rs in control.values()})
    checks.append(Check(name, "n/a" if not control else "warn" if high else "pass",
                        "no undefended PGD-10 record at the paper's ε" if not control else
                        "; ".join(f"{k}: {v:.1f}" for k, v in sorted(high.items())) if high else
                        f"{len(control)} configuration(s) of {pairs} victim/norm pair(s), every mean ≤ 2"))

    large: dict[str, list[dict[str, Any]]] = defaultdict(list)  # configuration → its records
    for r in records:
        s = r["spec"]
        paper_eps = _default_eps(s.get("norm")) or math.inf
        if s["attack"]["name"] == "pgd" and s.get("eps") and s["eps"] >= LARGE * paper_eps:
            large[config_key(s)].append(r)
    name = f"large-ε PGD (≥ {LARGE}× the paper's ε) drives every defense to ≤ 10%"
    defenses = sorted({r["spec"]["defense"]["name"] for r in records})
    labels = _labels(large, lambda s: s["defense"]["name"])
    high = {labels[k]: v for k, rs in large.items() if (v := mean_std([r["protocols"][HEADLINE] for r in rs])[0]) > 10}
    attacked = {rs[0]["spec"]["defense"]["name"] for rs in large.values()}
    absent = [d for d in defenses if d not in attacked]
    detail = "; ".join([*(f"{d}: {v:.1f}" for d, v in sorted(high.items())),
                        *([f"no large-ε run for {', '.join(absent)}"] if absent else [])])
    checks.append(Check(name, "n/a" if not large else "warn" if detail else "pass",
                        "no large-ε PGD record" if not large else
                        detail or f"{len(attacked)} defense(s) in {len(large)} configuration(s), all ≤ 10"))
    checks.append(_white_vs_black(records))

    randomized = sorted({r["spec"]["defense"]["name"] for r in records if r["checks"].get("randomized")})
    with_eot = {r["spec"]["defense"]["name"] for r in records if (r["spec"].get("eot") or 1) > 1}
    lacking = [d for d in randomized if d not in with_eot]
    checks.append(Check("randomized defenses attacked with EOT", "n/a" if not randomized else
                        "warn" if lacking else "pass",
                        "no randomized defense" if not randomized else
                        f"no EOT attack on {', '.join(lacking)}" if lacking else
                        f"{', '.join(randomized)}: each has an EOT > 1 record"))
    both = all(isinstance(r.get("clean_acc_victim"), (int, float)) and isinstance(r.get("clean_acc"), (int, float))
               for r in records)
    checks.append(Check("clean accuracy reported bare and defended", "pass" if both else "warn",
                        f"every record holds both ({len(records)})" if both else "some records lack one"))
    return checks


def _victim_norm(spec: dict[str, Any]) -> str:
    return f"{spec['victim']['name']} {spec['norm']}"


def _labels(configs: dict[str, list[dict[str, Any]]], base: Callable[[dict[str, Any]], str]) -> dict[str, str]:
    """Per configuration: ``base`` of its spec, and what differs where two configurations share it."""
    specs = {k: config_spec(rs[0]["spec"]) for k, rs in configs.items()}
    return labelled(specs, {k: base(s) for k, s in specs.items()})


def _white_vs_black(records: list[dict[str, Any]]) -> Check:
    """Per example: a black-box or transfer attack must not break a clip every white-box attack of the same
    (defense, victim, subset, seed, norm, ε) leaves correct. A deterministic defense may not show it once;
    a randomized one on at most 10% of the clips (one fresh draw each)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        s = r["spec"]
        key = json.dumps([s["defense"], s["victim"], s["data"], s["seed"], s.get("norm"), s.get("eps")], sort_keys=True)
        groups[key].append(r)
    name = "white-box ≤ black-box/transfer, per example"
    compared, bad = 0, []
    for rs in groups.values():
        white = [r for r in rs if r["spec"]["gradient_mode"] not in QUERY_ONLY]
        black = [r for r in rs if r["spec"]["gradient_mode"] in QUERY_ONLY]
        if not white or not black:
            continue
        survived = [all(flags) for flags in zip(*(r["per_sample"]["robust"] for r in white), strict=False)]
        for b in black:
            compared += 1
            beats = sum(1 for ok, flag in zip(survived, b["per_sample"]["robust"], strict=False) if ok and not flag)
            limit = 0.1 * len(survived) if b["checks"].get("randomized") else 0
            if beats > limit:
                bad.append(f"{b['labels']['attack']} on {b['labels']['defense']} seed {b['spec']['seed']}: "
                           f"{beats}/{len(survived)} clips")
    if not compared:
        return Check(name, "n/a", "no black-box/transfer record beside a white-box one on the same cell")
    return Check(name, "warn" if bad else "pass",
                 "; ".join(bad[:3]) if bad else f"{compared} black-box/transfer record(s), none beats white-box")
