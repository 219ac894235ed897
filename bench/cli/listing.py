"""``bench list``: the registered plugins, where they come from, and those that failed to load."""

from __future__ import annotations

import typing
from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.errors import BadParameter
from bench.params import signature_params
from bench.registry import KINDS, REGISTRY, Plugin

_ALIASES = {**{k: k for k in KINDS}, **{f"{k}s": k for k in KINDS}}


def _configs(plugin: Plugin) -> str:
    """A network's configurations, starred where trained weights ship (victims and denoisers)."""
    from bench.weights import WEIGHTS_DIRS, shipped_weights

    if plugin.kind not in WEIGHTS_DIRS or "config" not in signature_params(plugin.factory):
        return ""
    hints = typing.get_type_hints(plugin.factory)
    choices = typing.get_args(hints.get("config"))
    shown = [f"{c}{'*' if shipped_weights(plugin.kind, plugin.name, str(c)) else ''}" for c in choices]
    return f"  [configs: {', '.join(shown)}; * = shipped weights]" if shown else ""


@one_line_errors
def list_command(
    kind: Annotated[str | None, typer.Argument(
        help="defenses, attacks, victims, datasets or denoisers (all if omitted).")] = None,
) -> None:
    """List plugins: name, one-line description, and the package it came from."""
    if kind is not None and kind not in _ALIASES:
        raise BadParameter(f"unknown kind {kind!r}; valid: defenses, attacks, victims, datasets, denoisers")
    kinds = [_ALIASES[kind]] if kind else list(KINDS)
    for k in kinds:
        typer.echo(f"{k}s:")
        plugins = REGISTRY.plugins(k)
        width = max((len(p.name) for p in plugins), default=0)
        for p in plugins:
            extra = _configs(p)
            typer.echo(f"  {p.name:<{width}}  {p.description}  ({p.source} {p.version}){extra}")
        for f in REGISTRY.failures(k):
            names = [name for kind, name in f.plugins if kind == k]
            provides = f", would provide {', '.join(names)}" if names else ""
            typer.echo(f"  FAILED {f.name} ({f.source}){provides}: {f.error}")
