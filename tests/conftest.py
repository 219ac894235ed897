"""Shared fixtures: an isolated cache, a tiny synth-digits build, registry hygiene."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

# An isolated cache for the whole session, set before any scrbench module reads it.
_HOME = Path(os.environ.get("SCRBENCH_TEST_HOME", "")) if os.environ.get("SCRBENCH_TEST_HOME") else None


@pytest.fixture(scope="session", autouse=True)
def scrbench_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = _HOME or tmp_path_factory.mktemp("scrbench-home")
    old = os.environ.get("SCRBENCH_HOME")
    os.environ["SCRBENCH_HOME"] = str(home)
    os.environ.setdefault("SCRBENCH_DISABLE_PLUGIN_AUTOLOAD", "0")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield home
    if old is None:
        os.environ.pop("SCRBENCH_HOME", None)
    else:
        os.environ["SCRBENCH_HOME"] = old


# Two voices per split, two renditions each: 40 clips per split, built in about a second.
TINY = {"voices": 2, "clips_per_voice": 2}
TINY_OPTIONS = ["-o", "data.voices=2", "-o", "data.clips_per_voice=2"]


@pytest.fixture(scope="session")
def tiny_synth(scrbench_home: Path):
    from bench.data.synth_digits import SynthDigits

    dataset = SynthDigits(**TINY)
    dataset.prepare(progress=False)
    return dataset


@pytest.fixture(scope="session")
def default_data(scrbench_home: Path):
    """The full default dataset, built from nothing in the session's cache (slow tests only)."""
    from bench.data.synth_digits import SynthDigits

    data = SynthDigits()
    data.prepare(progress=False)
    return data


@pytest.fixture
def temporary_plugin() -> Iterator[Callable[[str, str, Any], None]]:
    """Register plugins for one test only."""
    from bench.registry import REGISTRY

    added: list[tuple[str, str]] = []

    def add(kind: str, name: str, factory: Any) -> None:
        REGISTRY.load()
        REGISTRY.register(kind, name)(factory)
        added.append((kind, name))

    yield add
    for kind, name in added:
        REGISTRY._plugins[kind].pop(name, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow (full default data)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def kill_after_first_record(command: list[str], results: Path, env: dict[str, str] | None = None) -> dict[str, int]:
    """Start ``command --results results`` in a subprocess, SIGKILL it once its first record exists (2 min at
    most), and return the finished records' names and modification times, to check a rerun leaves them alone."""
    proc = subprocess.Popen([*command, "--results", str(results)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    deadline = time.time() + 120
    while time.time() < deadline and not any(results.glob("*.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
