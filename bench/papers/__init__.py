"""Papers whose published numbers the report sets beside ours: one module per paper, registered as a ``paper``.

A paper module holds, in one place, everything the harness knows about one paper: its citation, the metric
its numbers use, its display names for plugins, its numbers per artefact (an artefact is a grid of the same
name, ``bench/grids/<artefact>.toml``, whose ``paper`` key names the paper), a note per artefact and its
findings, each judged from the artefacts' records. A grid with paper numbers is a TOML file plus entries here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bench.registry import REGISTRY

# artefact name → the report's artefact object (``bench.report.artefacts.Artefact``); perf records as read
Findings = Callable[[dict[str, Any], list[dict[str, Any]]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Paper:
    name: str
    source: str  # the citation printed under every table with its numbers
    protocol: str  # the metric its numbers use (a protocol name, ``bench.protocols``)
    names: dict[str, dict[str, str]]  # plugin kind → plugin name → the paper's display name
    numbers: dict[str, dict[str, dict[str, float]]]  # artefact → row → column → value
    notes: dict[str, str] = field(default_factory=dict)  # artefact → what the paper's setting was
    # artefact → (title, header of its paper column): tables laid out from `bench perf` records, not cells
    timing: dict[str, tuple[str, str]] = field(default_factory=dict)
    findings: Findings | None = None

    def display_name(self, kind: str, name: str) -> str:
        """The paper's name for a plugin (``ddpm`` → ``DDPM``); the plugin name where the paper has none."""
        return self.names.get(kind, {}).get(name, name)

    def value(self, artefact: str, row: str, column: str) -> float | None:
        """The paper's number for one table cell, or None where the paper has none."""
        return self.numbers.get(artefact, {}).get(row, {}).get(column)


@cache
def get_paper(name: str) -> Paper:
    """The registered paper ``name`` (one line listing the valid ones when unknown)."""
    return REGISTRY.get("paper", name).factory()


def paper_of(name: str | None) -> Paper | None:
    return None if name is None else get_paper(name)


def display_name(paper: str | None, kind: str, name: str) -> str:
    """``paper``'s display name for a plugin, or the plugin name when there is no paper."""
    return name if paper is None else get_paper(paper).display_name(kind, name)
