"""What a plugin module would register, read from its source without running it.

A module that fails to import registers nothing; reading its ``register("kind", "name")`` calls lets the
registry name the import error when the user asks for one of those plugins, instead of calling the name
unknown (a module's file name need not be its plugin's name).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Collection
from pathlib import Path

# Only for a module that does not even parse: the usual decorator line, matched as text.
_REGISTER_TEXT = re.compile(r"""\bregister\(\s*["']([\w-]+)["']\s*,\s*["']([^"'\n]+)["']""")


def registered_in(source: str, kinds: Collection[str]) -> tuple[tuple[str, str], ...]:
    """The (kind, name) pairs a module's source registers with literal arguments, in source order:
    ``@register("defense", "x")``, ``REGISTRY.register("attack", name="y")(f)``. Read, never run."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        pairs = _REGISTER_TEXT.findall(source)
        return tuple(dict.fromkeys((k, n) for k, n in pairs if k in kinds))
    found: list[tuple[int, int, str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        callee = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if callee != "register":
            continue
        given = dict(zip(("kind", "name"), node.args, strict=False))
        given.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
        kind, name = given.get("kind"), given.get("name")
        if isinstance(kind, ast.Constant) and isinstance(name, ast.Constant) and kind.value in kinds \
                and isinstance(name.value, str):
            found.append((node.lineno, node.col_offset, kind.value, name.value))
    return tuple(dict.fromkeys((k, n) for _, _, k, n in sorted(found)))


def _source_files(module: str) -> list[Path]:
    """The file of ``module`` (every file under it for a package), found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # noqa: BLE001 - a parent package that fails to import, a bad name: nothing to read
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:  # a package: its own modules may hold the plugins
        return sorted(f for d in spec.submodule_search_locations for f in Path(d).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def plugins_of_module(module: str, kinds: Collection[str]) -> tuple[tuple[str, str], ...]:
    """What ``module`` would register, read from its source; () when it cannot be found or read."""
    found: list[tuple[str, str]] = []
    for path in _source_files(module):
        try:
            found += registered_in(path.read_text(encoding="utf-8"), kinds)
        except (OSError, UnicodeDecodeError):
            continue
    return tuple(dict.fromkeys(found))
