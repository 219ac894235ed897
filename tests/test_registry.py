"""The plugin registry: decorator, parameters, and outside packages found through importlib.metadata."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

import bench.registry
from bench.cli import app
from bench.errors import BadParameter, UnknownPlugin
from bench.params import parse_value, resolve
from bench.plugin_source import registered_in
from bench.registry import KINDS, REGISTRY, DuplicatePlugin, Registry
from bench.results import iter_records
from tests.conftest import TINY_OPTIONS

runner = CliRunner()


def test_decorator_registers_and_lookup_explains_unknown_names():
    reg = Registry()
    reg._in_tree_loaded = reg._entry_points_loaded = True  # an empty, hermetic registry

    @reg.register("defense", "identity")
    class Identity:
        """Does nothing.

        More text that is not the description."""

    plugin = reg.get("defense", "identity")
    assert (plugin.description, plugin.source) == ("Does nothing.", "scrbench")
    with pytest.raises(UnknownPlugin, match="unknown defense 'identiti'; valid: identity"):
        reg.get("defense", "identiti")
    with pytest.raises(DuplicatePlugin, match="clashes"):
        reg.register("defense", "identity")(type("Other", (), {}))
    with pytest.raises(ValueError, match="unknown plugin kind"):
        reg.register("widget", "x")


def test_in_tree_plugins_are_all_registered():
    assert {"none"} <= set(REGISTRY.names("defense"))
    assert {"pgd"} <= set(REGISTRY.names("attack"))
    assert {"resnext29"} <= set(REGISTRY.names("victim"))
    assert {"synth-digits", "sc09"} <= set(REGISTRY.names("dataset"))
    assert {"diffwave", "meldiff"} <= set(REGISTRY.names("denoiser"))
    assert not REGISTRY.failures()


def test_parameters_are_parsed_and_checked_against_the_signature():
    def factory(t: int = 2, scale: float = 1.0, mode: Literal["a", "b"] = "a", flag: bool = False,
                cap: int | None = None):
        pass

    assert resolve("defense 'x'", factory, {"t": "3", "scale": "0.5", "mode": "b", "flag": "yes", "cap": "none"}) == \
        {"t": 3, "scale": 0.5, "mode": "b", "flag": True, "cap": None}
    assert resolve("defense 'x'", factory, {"scale": 2})["scale"] == 2
    with pytest.raises(BadParameter, match="t='x' is not valid; expected int"):
        resolve("defense 'x'", factory, {"t": "x"})
    with pytest.raises(BadParameter, match="mode='c' is not valid; expected one of 'a', 'b'"):
        resolve("defense 'x'", factory, {"mode": "c"})
    with pytest.raises(BadParameter, match="has no parameter 'tw'; valid: t, scale, mode, flag, cap"):
        resolve("defense 'x'", factory, {"tw": "3"})
    with pytest.raises(BadParameter, match="expected float"):
        resolve("defense 'x'", factory, {"scale": "fast"})
    assert parse_value("12", int | None) == 12


OUTSIDE_DEFENSE = '''
    """An outside package's defense, registered by decorator when its module is imported."""
    import torch
    from bench.registry import register
    from defenses.base import Defense


    @register("defense", "gauss-noise")
    class GaussNoise(Defense):
        """Adds Gaussian noise to the waveform (outside plugin)."""

        stochastic = True

        def __init__(self, sigma: float = 0.001):
            super().__init__()
            self.sigma = sigma

        def purify_wave(self, wave, generator=None):
            noise = torch.randn(wave.shape, generator=generator, device=wave.device, dtype=wave.dtype)
            return (wave + self.sigma * noise).clamp(-1.0, 1.0)
'''
OUTSIDE_FACTORY = '''
    from defenses.base import Defense


    class Halve(Defense):
        """Halves the waveform (registered through a module:factory entry point)."""

        def purify_wave(self, wave, generator=None):
            return wave * 0.5
'''
OUTSIDE_CLASH = '''
    from bench.registry import register
    from defenses.base import Defense


    @register("defense", "none")
    class NotNone(Defense):
        """Tries to take an in-tree name."""
'''


BROKEN_MISNAMED = '''
    import no_such_module_xyz
    from bench.registry import register


    @register("defense", "fancy-name")
    class Fancy:
        """Its file is not called fancy-name."""
'''


@pytest.fixture
def outside_package(tmp_path: Path) -> Iterator[Path]:
    """A distribution 'scrbench-outside' installed on sys.path with four defense entry points."""
    for module, source in {"outside_noise": OUTSIDE_DEFENSE, "outside_factory": OUTSIDE_FACTORY,
                           "outside_clash": OUTSIDE_CLASH, "outside_broken": "import no_such_module_xyz\n",
                           "outside_misnamed": BROKEN_MISNAMED}.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    dist = tmp_path / "scrbench_outside-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scrbench-outside\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text(
        "[scrbench.defenses]\ngauss = outside_noise\nhalve = outside_factory:Halve\n"
        "clash = outside_clash\nbroken = outside_broken\nmisnamed = outside_misnamed\n")
    sys.path.insert(0, str(tmp_path))
    REGISTRY.refresh_entry_points()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    REGISTRY.refresh_entry_points()


def test_outside_plugins_load_lazily_and_failures_break_nothing(outside_package: Path):
    gauss = REGISTRY.get("defense", "gauss-noise")
    assert (gauss.source, gauss.version) == ("scrbench-outside", "0.3")
    assert REGISTRY.get("defense", "halve").description.startswith("Halves the waveform")
    assert REGISTRY.get("defense", "none").source == "scrbench"  # the clash did not replace ours
    failures = {f.name: f.error for f in REGISTRY.failures("defense")}
    assert "no_such_module_xyz" in failures["broken"] and "clashes" in failures["clash"]
    with pytest.raises(UnknownPlugin, match="failed to load"):
        REGISTRY.get("defense", "broken")

    listing = runner.invoke(app, ["list", "defenses"])
    assert listing.exit_code == 0
    assert "gauss-noise" in listing.output and "(scrbench-outside 0.3)" in listing.output
    assert "FAILED broken (scrbench-outside)" in listing.output and "FAILED clash" in listing.output


def test_outside_defense_runs_through_bench_run(outside_package: Path, tmp_path: Path, tiny_synth):
    results = tmp_path / "runs"
    out = runner.invoke(app, ["run", "--defense", "gauss-noise", "-o", "sigma=0.0005", "--steps", "2", "--n", "10",
                              "--seeds", "1", "--results", str(results), "--no-progress", *TINY_OPTIONS])
    assert out.exit_code == 0, out.output
    (record,) = list(iter_records(results))
    assert record["spec"]["defense"] == {"name": "gauss-noise", "params": {"sigma": 0.0005}, "weights": {}}
    assert record["labels"]["defense"] == "gauss-noise(sigma=0.0005)"
    assert record["budget"]["violations"] == 0 and record["n"] == 10


def test_registered_names_are_read_from_source_without_running_it():
    source = textwrap.dedent('''
        import no_such_module_xyz
        from bench.registry import REGISTRY, register

        @register("defense", "first")
        class A: ...

        REGISTRY.register("attack", name="second")(A)
        register(kind="victim", name="third")(A)
        for name in ("dynamic",):
            register("defense", name)(A)
        register("widget", "not-a-kind")(A)
        other.register("dataset", "fourth")(A)
    ''')
    expected = (("defense", "first"), ("attack", "second"), ("victim", "third"), ("dataset", "fourth"))
    assert registered_in(source, KINDS) == expected
    # a module that does not parse still names its decorators (as text)
    assert registered_in('@register("defense", "x")\nclass A(:\n', KINDS) == (("defense", "x"),)


@pytest.fixture
def broken_in_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry whose in-tree defense package holds four modules that fail to import."""
    package = tmp_path / "scrbench_broken_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "oddly_named.py").write_text(textwrap.dedent(BROKEN_MISNAMED))
    (package / "boom.py").write_text(textwrap.dedent('''
        from bench.registry import REGISTRY
        raise RuntimeError("boom  at import")

        @REGISTRY.register("attack", name="kaboom")
        def kaboom(): ...
    '''))
    (package / "cut_off.py").write_text('from bench.registry import register\n@register("victim", "half")\ndef f(:\n')
    (package / "helper.py").write_text("import no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bench.registry, "IN_TREE_PACKAGES", {"defense": package.name})
    monkeypatch.setenv("SCRBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    yield Registry()
    for name in [m for m in sys.modules if m.startswith(package.name)]:
        del sys.modules[name]


def test_a_failed_module_is_named_by_the_plugins_it_would_register(broken_in_tree: Registry):
    reg = broken_in_tree
    with pytest.raises(UnknownPlugin) as info:
        reg.get("defense", "fancy-name")
    assert str(info.value) == ("defense 'fancy-name' failed to load: No module named 'no_such_module_xyz' "
                               "(see bench list)")
    with pytest.raises(UnknownPlugin) as info:
        reg.get("attack", "kaboom")  # not an import error: its type stays
    assert str(info.value) == "attack 'kaboom' failed to load: RuntimeError: boom at import (see bench list)"
    with pytest.raises(UnknownPlugin, match="victim 'half' failed to load: SyntaxError: "):
        reg.get("victim", "half")
    with pytest.raises(UnknownPlugin) as info:
        reg.get("defense", "oddly_named")  # the file's name is no plugin's name
    assert str(info.value) == ("unknown defense 'oddly_named'; valid: none registered; 1 module(s) that failed to "
                               "load may hold it (see bench list)")
    assert {f.name.rsplit(".", 1)[-1]: f.plugins for f in reg.failures()} == {
        "oddly_named": (("defense", "fancy-name"),), "boom": (("attack", "kaboom"),), "cut_off": (("victim", "half"),),
        "helper": ()}
    assert [f.name.rsplit(".", 1)[-1] for f in reg.failures("attack")] == ["boom"]


def test_a_failed_entry_point_is_named_by_its_name_and_its_decorators(outside_package: Path):
    for name in ("misnamed", "fancy-name"):
        with pytest.raises(UnknownPlugin) as info:
            REGISTRY.get("defense", name)
        assert str(info.value) == (f"defense {name!r} failed to load: No module named 'no_such_module_xyz' "
                                   "(see bench list)")
    listing = runner.invoke(app, ["list", "defenses"]).output
    assert ("  FAILED misnamed (scrbench-outside), would provide misnamed, fancy-name: No module named "
            "'no_such_module_xyz'\n") in listing


def test_bench_run_names_the_import_error_of_a_dataset_module(tmp_path: Path):
    """soundfile without cffi: the dataset modules fail to import, and `bench run` says so, not 'unknown'."""
    fake = tmp_path / "fake" / "soundfile"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'cffi'\", name='cffi')\n")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "SCRBENCH_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), root, os.environ.get("PYTHONPATH", "")])}
    bench = [sys.executable, "-m", "bench"]
    run = subprocess.run([*bench, "run", "--data", "synth-digits", "--seeds", "1", "--no-progress",
                          "--results", str(tmp_path / "runs"), *TINY_OPTIONS], env=env, capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["error: dataset 'synth-digits' failed to load: No module named 'cffi' "
                                       "(see bench list)"]
    listing = subprocess.run([*bench, "list", "datasets"], env=env, capture_output=True, text=True).stdout
    assert ("  FAILED bench.data.synth_digits (scrbench), would provide synth-digits: No module named 'cffi'\n"
            in listing)
    assert not (tmp_path / "home").exists()
