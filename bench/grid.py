"""Experiment grids: one TOML file per paper artefact (``bench/grids/``), expanded into ``bench run`` cells.

A grid names its artefact's layout (``rows``, ``columns``: the paper's table or figure), its profiles
(``quick``: shipped slim models, small n and seeds; ``headline``, where a grid has one: the reference's
headline cells at 100 clips × 3 seeds; ``paper``: the published configurations) and its runs.
Each ``[[run]]`` is one ``bench run`` configuration or, where a value is a list, the cross product of them:

    [[run]]
    row = "{defense}"                  # where its cells go: format fields are the run's values
    column = "L∞ PGD-{steps}"          # one column per scored step (score_at) and the final one
    defense = ["ddpm", "dualpure"]     # defense, attack, victim, data, norm, eps, steps, eot: value or list
    steps = 100
    score_at = [10, 30, 50, 70]        # PGD-10 ... PGD-70 from the one PGD-100 trajectory
    options = { "defense.t_w" = [1, 2] }   # -o key=value; a list is crossed too
    profile.quick = { steps = 50 }     # per-profile overrides of any of the above
    profiles = ["quick", "paper"]      # only in these profiles (default: every profile of the grid)

Profile ``options`` go to every plugin of a cell that has that parameter (``victim.config = "paper"``
reaches victims, ``defense.config`` only defenses with a ``config``). A run without ``row``/``column``
feeds the sanity checks and the full report but no artefact table. Cells are content-addressed as in
``bench run``, so a cell shared by two grids runs once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomllib

from attacks.norms import get_norm
from bench.errors import BadParameter
from bench.papers import display_name
from bench.params import signature_params
from bench.registry import REGISTRY
from bench.spec import RUN_SETTINGS, SECTIONS, RunConfig, accepted_params

GRIDS_DIR = Path(__file__).resolve().parent / "grids"
AXES = ("defense", "victim", "data", "attack", "norm", "eps", "steps", "eot")  # crossed in this order
RUN_KEYS = {*AXES, "row", "column", "clean_column", "bare_column", "score_at", "options", "surrogate", "profile",
            "profiles"}
PROFILE_KEYS = {"n", "seeds", "subset_seed", "batch_size", "draws", "vote", "options", "device", "split"}
LAYOUTS = ("table", "lines", "bars")


@dataclass(frozen=True)
class GridRun:
    """One configuration of a grid: its ``bench run`` config (all seeds) and where its cells go."""

    config: RunConfig
    row: str | None
    columns: dict[int, str]  # step count → column label (score_at steps and the final one)
    index: int  # the [[run]] it came from
    clean_column: str | None = None  # the column its defended clean accuracy goes to
    bare_column: str | None = None  # the column the bare victim's clean accuracy goes to


@dataclass
class Grid:
    name: str
    path: Path
    title: str
    layout: str
    rows: list[str]
    columns: list[str]
    profiles: dict[str, dict[str, Any]]
    runs: list[dict[str, Any]]
    paper: str | None = None  # the registered paper (``bench.papers``) whose numbers stand beside ours
    artefact: str = ""  # the paper's name for this artefact (its numbers and notes); default: the grid's name
    caption: str = ""
    x_label: str = ""
    y_label: str = "robust accuracy (%)"
    extra: dict[str, Any] = field(default_factory=dict)


def grid_names() -> list[str]:
    return sorted(p.stem for p in GRIDS_DIR.glob("*.toml"))


def load_grid(name: str | Path) -> Grid:
    """A shipped grid by name (``table1``) or a grid file by path; one clear line when it is not valid."""
    path = Path(name)
    if path.suffix != ".toml":
        path = GRIDS_DIR / f"{name}.toml"
        if not path.exists():
            raise BadParameter(f"unknown grid {name!r}; valid: {', '.join(grid_names())} (or a path to a .toml file)")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadParameter(f"grid {path}: cannot read it ({' '.join(str(exc).split())})") from None
    where = f"grid {path.stem}"
    layout = data.get("layout", "table")
    if layout not in LAYOUTS:
        raise BadParameter(f"{where}: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    profiles = data.get("profile", {})
    if not profiles:
        raise BadParameter(f"{where}: needs at least one [profile.NAME] (quick, paper)")
    for pname, prof in profiles.items():
        unknown = sorted(set(prof) - PROFILE_KEYS)
        if unknown:
            raise BadParameter(f"{where}, profile {pname}: unknown key {unknown[0]!r}; "
                               f"valid: {', '.join(sorted(PROFILE_KEYS))}")
    runs = data.get("run", [])
    if not runs:
        raise BadParameter(f"{where}: needs at least one [[run]]")
    for i, run in enumerate(runs, 1):
        unknown = sorted(set(run) - RUN_KEYS)
        if unknown:
            raise BadParameter(f"{where}, run {i}: unknown key {unknown[0]!r}; valid: {', '.join(sorted(RUN_KEYS))}")
        for pname in [*run.get("profile", {}), *run.get("profiles", [])]:
            if pname not in profiles:
                raise BadParameter(f"{where}, run {i}: names unknown profile {pname!r}; valid: {', '.join(profiles)}")
    known = {"title", "layout", "rows", "columns", "profile", "run", "paper", "artefact", "caption", "x_label",
             "y_label"}
    paper = data.get("paper")
    if paper is not None and paper not in REGISTRY.names("paper"):
        raise BadParameter(f"{where}: unknown paper {paper!r}; valid: {', '.join(REGISTRY.names('paper'))}")
    return Grid(name=path.stem, path=path, title=data.get("title", path.stem), layout=layout,
                rows=list(data.get("rows", [])), columns=[str(c) for c in data.get("columns", [])],
                profiles=profiles, runs=runs, paper=paper, artefact=data.get("artefact", path.stem),
                caption=data.get("caption", ""),
                x_label=data.get("x_label", ""), y_label=data.get("y_label", "robust accuracy (%)"),
                extra={k: v for k, v in data.items() if k not in known})


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """A grid value as ``-o`` text and as a label: floats in their shortest form."""
    return f"{value:g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def _where_accepted(options: dict[str, Any], plugins: dict[str, str], used: set[str]) -> list[tuple[str, str]]:
    """Profile options: each goes to the plugins of this cell that have the parameter, else nowhere; the keys
    that went somewhere are added to ``used``."""
    out = []
    for key, value in options.items():
        if key.removeprefix("run.") in RUN_SETTINGS:  # compile, dtype: the run's, not a plugin's
            out.append((key, _text(value)))
            used.add(key)
            continue
        section, dot, name = key.partition(".")
        sections = [section] if dot else list(SECTIONS)
        if dot and section not in SECTIONS:
            raise BadParameter(f"profile option {key}: unknown section {section!r}; "
                               "use defense., attack., victim. or data.")
        for s in sections:
            if (name if dot else key) in accepted_params(s, plugins[s]):
                out.append((f"{s}.{name if dot else key}", _text(value)))
                used.add(key)
    return out


def _fields(paper: str | None, plugins: dict[str, str], axes: dict[str, Any],
            options: dict[str, Any]) -> dict[str, str]:
    """The format fields of a run's labels: the paper's names of its plugins, its attack values, its options."""
    norm = axes.get("norm") or "linf"
    fields = {k: _text(v) for k, v in axes.items() if v is not None}
    fields.update({"defense": display_name(paper, "defense", plugins["defense"]),
                   "victim": display_name(paper, "victim", plugins["victim"]),
                   "attack": display_name(paper, "attack", plugins["attack"]), "norm": _norm_label(norm),
                   "defense_name": plugins["defense"], "victim_name": plugins["victim"]})
    fields.update({k.rpartition(".")[2]: _text(v) for k, v in options.items()})
    return fields


def _label(template: str | None, fields: dict[str, str], where: str) -> str | None:
    if template is None:
        return None
    try:
        return template.format(**fields)
    except KeyError as exc:
        raise BadParameter(f"{where}: label {template!r} uses {{{exc.args[0]}}}, which this run does not set; "
                           f"valid: {', '.join(sorted(fields))}") from None


def expand(grid: Grid, profile: str, results: Path, extra_options: list[tuple[str, str]] | None = None,
           n: int | None = None, seeds: int | None = None, device: str | None = None,
           progress: bool = False) -> list[GridRun]:
    """Every configuration of ``grid`` under ``profile``, in file order, lists crossed in ``AXES`` order then
    option order. ``extra_options`` (``-o`` on the command line) apply where accepted, like profile options;
    ``n``/``seeds``/``device`` override the profile's."""
    if profile not in grid.profiles:
        raise BadParameter(f"grid {grid.name} has no profile {profile!r}; valid: {', '.join(grid.profiles)}")
    prof = {**grid.profiles[profile], **({"n": n} if n is not None else {}),
            **({"seeds": seeds} if seeds is not None else {}), **({"device": device} if device else {})}
    settings: dict[str, Any] = {k: prof[k] for k in ("subset_seed", "batch_size", "draws", "vote", "device", "split")
                                if k in prof}  # what the profile leaves out keeps RunConfig's default
    if "n" in prof:
        settings["n"] = None if prof["n"] == "all" else int(prof["n"])
    if "seeds" in prof:
        settings["seeds"] = list(range(int(prof["seeds"])))
    base = RunConfig(**settings, results=Path(results), progress=progress)
    out: list[GridRun] = []
    used: set[str] = set()
    for index, run in enumerate(grid.runs, 1):
        if profile not in run.get("profiles", grid.profiles):
            continue
        where = f"grid {grid.name}, run {index}"
        run = {**{k: v for k, v in run.items() if k not in ("profile", "profiles")},
               **run.get("profile", {}).get(profile, {})}
        options = dict(run.get("options", {}))
        axes = {a: _as_list(run.get(a)) for a in AXES}
        option_axes = {k: _as_list(v) for k, v in options.items()}
        for values in itertools.product(*axes.values(), *option_axes.values()):
            chosen = dict(zip([*axes, *option_axes], values, strict=False))
            picked = {a: chosen[a] for a in AXES}
            plugins = {"defense": picked["defense"] or "none", "attack": picked["attack"] or "pgd",
                       "victim": picked["victim"] or "resnext29", "data": picked["data"] or "synth-digits"}
            run_options = {k: chosen[k] for k in option_axes}
            pairs = [(k, _text(v)) for k, v in run_options.items()]
            pairs += _where_accepted(prof.get("options", {}), plugins, used)
            pairs += _where_accepted(dict(extra_options or []), plugins, used)
            attack_options = {k: picked[k] for k in ("norm", "eps", "steps", "eot")}
            attack_options["surrogate"] = run.get("surrogate")
            config = replace(base, **plugins, options=pairs, attack_options=attack_options,
                             score_at=[int(k) for k in run.get("score_at", [])])
            fields = _fields(grid.paper, plugins, picked, run_options)
            final = int(picked["steps"] or _default_steps(plugins["attack"]))
            columns = {}
            for k in [*config.score_at, final]:
                label = _label(run.get("column"), {**fields, "steps": str(k)}, where)
                if label is not None:
                    columns[k] = label
            out.append(GridRun(config, _label(run.get("row"), fields, where), columns, index,
                               _label(run.get("clean_column"), fields, where),
                               _label(run.get("bare_column"), fields, where)))
    unused = [k for k in [*prof.get("options", {}), *dict(extra_options or [])] if k not in used]
    if unused:
        raise BadParameter(f"grid {grid.name}: option {unused[0]!r} fits no plugin of any cell; check its name "
                           "(sections: defense., attack., victim., data.)")
    return out


def _norm_label(norm: str) -> str:
    return get_norm(norm, "grid").label


def _default_steps(attack: str) -> int:
    """The attack's default step count; 0 for an attack without one (an ensemble), whose record is its final."""
    steps = signature_params(REGISTRY.get("attack", attack).factory).get("steps")
    return int(steps.default) if steps is not None else 0
