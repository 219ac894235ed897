"""One registry for every plugin kind: defenses, attacks, victims, datasets and denoisers (ε-networks).

In-tree plugins register with a decorator on their factory (a class or a function), as timm's
``register_model`` does::

    @register("defense", "none")
    class NoDefense(Defense):
        '''No purification.'''

Outside packages declare entry points in the groups ``scrbench.defenses``, ``scrbench.attacks``,
``scrbench.victims``, ``scrbench.datasets`` and ``scrbench.denoisers`` (the pytest11 pattern)::

    [project.entry-points."scrbench.defenses"]
    mydefense = "mypkg.mydefense"            # a module whose import runs @register(...)
    other = "mypkg.other:OtherDefense"       # or a factory, registered under the entry-point name

A registration may carry metadata a kind defines, as keywords (``@register("victim", "resnext29",
frontend=Wave2Mel)``, ``@register("denoiser", "diffwave", domain="wave", training_defaults=...)``) or, for a factory
registered without them (an entry point's ``module:factory``), as attributes of the factory; ``Plugin.meta``
reads either.

Everything loads lazily, on the first lookup. A plugin that fails to import is recorded (``bench list``
shows it) and breaks nothing else; its source is read (never run) for the plugins it would have registered,
so asking for one of them names the import error instead of calling the name unknown. Two plugins of one
kind with the same name are an error.
``SCRBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points for hermetic runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import bench
from bench.errors import BenchError, PluginLoadError, UnknownPlugin
from bench.plugin_source import plugins_of_module

F = TypeVar("F", bound=Callable[..., Any])

KINDS: dict[str, str] = {
    "defense": "scrbench.defenses",
    "attack": "scrbench.attacks",
    "victim": "scrbench.victims",
    "dataset": "scrbench.datasets",
    "denoiser": "scrbench.denoisers",  # ε-networks the diffusion defenses load (DiffWave, mel U-Net)
    "norm": "scrbench.norms",  # threat-model geometries (L∞, L2): projection, step, random start, distance
    "estimator": "scrbench.estimators",  # gradient estimators an attack's update rule is driven by
    "protocol": "scrbench.protocols",  # how a record's stored draws are scored (final@1, vote@M, ...)
    "paper": "scrbench.papers",  # a paper's published numbers, display names and findings
}
# Packages whose modules hold the in-tree plugins of each kind.
IN_TREE_PACKAGES: dict[str, str] = {
    "defense": "defenses",
    "attack": "attacks",
    "victim": "victims",
    "dataset": "bench.data",
    "denoiser": "defenses.diffusion",
    "norm": "attacks",
    "estimator": "attacks",
    "protocol": "bench.protocols",
    "paper": "bench.papers",
}
IN_TREE_SOURCE = "scrbench"


class DuplicatePlugin(BenchError):
    pass


@dataclass(frozen=True)
class Plugin:
    kind: str
    name: str
    factory: Callable[..., Any]
    description: str
    source: str  # distribution that provides the plugin
    version: str
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the kind's extra facts

    def meta(self, key: str, default: Any = None) -> Any:
        """Metadata ``key``: given at registration, else an attribute of the factory, else ``default``."""
        return self.metadata[key] if key in self.metadata else getattr(self.factory, key, default)


@dataclass(frozen=True)
class LoadFailure:
    kind: str
    name: str  # module or entry-point name that failed
    source: str
    error: str
    plugins: tuple[tuple[str, str], ...] = ()  # (kind, name) it would have registered, as far as known

    @property
    def kinds(self) -> set[str]:
        return {k for k, _ in self.plugins} or {self.kind}


def _first_line(doc: str | None) -> str:
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load_reason(exc: BaseException) -> str:
    """Why a plugin module failed to import, in one line: an import error's own text already says what is
    missing ("No module named 'cffi'"), any other error keeps its type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ImportError) and text else _one_line(exc)


class Registry:
    def __init__(self) -> None:
        self._plugins: dict[str, dict[str, Plugin]] = {kind: {} for kind in KINDS}
        self._failures: list[LoadFailure] = []
        self._in_tree_loaded = False
        self._entry_points_loaded = False
        self._sources: list[tuple[str, str]] = []  # (distribution, version) of the entry point being loaded

    # -- registration -------------------------------------------------------------------------
    def register(self, kind: str, name: str, *, description: str | None = None, **metadata: Any) -> Callable[[F], F]:
        """Decorator registering ``factory`` as plugin ``name`` of ``kind``, with the kind's ``metadata``."""
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(KINDS)}")

        def decorator(factory: F) -> F:
            source, version = self._sources[-1] if self._sources else (IN_TREE_SOURCE, bench.__version__)
            self._add(Plugin(kind, name, factory, description or _first_line(factory.__doc__), source, version,
                             dict(metadata)))
            return factory

        return decorator

    def _add(self, plugin: Plugin) -> None:
        existing = self._plugins[plugin.kind].get(plugin.name)
        if existing is not None and existing.factory is not plugin.factory:
            raise DuplicatePlugin(
                f"{plugin.kind} {plugin.name!r} from {plugin.source} clashes with the one from {existing.source}; "
                "rename one of them"
            )
        self._plugins[plugin.kind][plugin.name] = plugin

    @contextmanager
    def _source(self, dist: str, version: str) -> Iterator[None]:
        self._sources.append((dist, version))
        try:
            yield
        finally:
            self._sources.pop()

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> None:
        """Import the in-tree plugin modules and the installed entry points (once each)."""
        if not self._in_tree_loaded:
            self._in_tree_loaded = True
            for kind, package in IN_TREE_PACKAGES.items():
                self._import_package(kind, package)
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            if os.environ.get("SCRBENCH_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes"):
                for kind in KINDS:
                    self._load_entry_points(kind)

    def _import_failed(self, kind: str, module: str, exc: BaseException) -> None:
        if any(f.name == module and f.source == IN_TREE_SOURCE for f in self._failures):
            return  # a subpackage walked again for a second kind (defenses.diffusion)
        plugins = plugins_of_module(module, KINDS)
        self._failures.append(LoadFailure(kind, module, IN_TREE_SOURCE, _load_reason(exc), plugins))

    def _import_package(self, kind: str, package: str) -> None:
        try:
            pkg = importlib.import_module(package)
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            self._import_failed(kind, package, exc)
            return
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # noqa: BLE001
                self._import_failed(kind, info.name, exc)

    def _load_entry_points(self, kind: str) -> None:
        for ep in metadata.entry_points(group=KINDS[kind]):
            dist = ep.dist.name if ep.dist is not None else "unknown"
            version = ep.dist.version if ep.dist is not None else "?"
            before = sum(len(p) for p in self._plugins.values())
            try:
                with self._source(dist, version):
                    obj = ep.load()
                    if ep.attr:  # "module:factory": register the factory under the entry-point name
                        if not any(p.factory is obj for p in self._plugins[kind].values()):
                            self.register(kind, ep.name)(obj)
            except Exception as exc:  # noqa: BLE001
                # a module entry point's decorators name its plugins; the entry-point name is the user's other guess
                read = () if ep.attr else plugins_of_module(ep.module, KINDS)
                plugins = tuple(dict.fromkeys(((kind, ep.name), *read)))
                self._failures.append(LoadFailure(kind, ep.name, dist, _load_reason(exc), plugins))
                continue
            if sum(len(p) for p in self._plugins.values()) == before and not ep.attr:
                self._failures.append(
                    LoadFailure(kind, ep.name, dist, f"module {ep.value} registered no plugin", ((kind, ep.name),))
                )

    def refresh_entry_points(self) -> None:
        """Forget outside plugins and load the entry points again (after installing a package)."""
        for kind in KINDS:
            for name in [n for n, p in self._plugins[kind].items() if p.source != IN_TREE_SOURCE]:
                module = self._plugins[kind][name].factory.__module__
                del self._plugins[kind][name]
                sys.modules.pop(module, None)  # so its decorators run again on import
        self._failures = [f for f in self._failures if f.source == IN_TREE_SOURCE]
        self._entry_points_loaded = False
        self.load()

    # -- lookup -------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Plugin:
        self.load()
        plugins = self._plugins[kind]
        if name not in plugins:
            failed = [f for f in self._failures if (kind, name) in f.plugins]
            if failed:
                raise UnknownPlugin(f"{kind} {name!r} failed to load: {failed[0].error} (see bench list)")
            valid = ", ".join(sorted(plugins)) or "none registered"
            unread = sum(1 for f in self._failures if kind in f.kinds and not f.plugins)
            hint = f"; {unread} module(s) that failed to load may hold it (see bench list)" if unread else ""
            raise UnknownPlugin(f"unknown {kind} {name!r}; valid: {valid}{hint}")
        return plugins[name]

    def plugins(self, kind: str) -> list[Plugin]:
        self.load()
        return sorted(self._plugins[kind].values(), key=lambda p: p.name)

    def names(self, kind: str) -> list[str]:
        return [p.name for p in self.plugins(kind)]

    def create(self, kind: str, name: str, overrides: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Build plugin ``name`` with ``overrides`` applied to its signature defaults; returns the instance
        and every resolved parameter."""
        from bench.params import resolve

        plugin = self.get(kind, name)
        params = resolve(f"{kind} {name!r}", plugin.factory, overrides or {})
        try:
            return plugin.factory(**params), params
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - one line for the user; SCRBENCH_DEBUG=1 shows the traceback
            raise PluginLoadError(f"{kind} {name!r} could not be built: {_one_line(exc)}") from exc

    def failures(self, kind: str | None = None) -> list[LoadFailure]:
        self.load()
        return [f for f in self._failures if kind is None or kind in f.kinds]


REGISTRY = Registry()
register = REGISTRY.register
