"""Plugin parameters: a factory's typed signature is its schema (the diffusers ``__init__`` rule).

``-o key=value`` strings are parsed against the annotation of the parameter they name, so a bad value
fails with one line that says what is valid, and every resolved value can be written into a result.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from bench.errors import BadParameter

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _target(factory: Callable[..., Any]) -> Callable[..., Any]:
    return factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]


def signature_params(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a plugin factory (``self`` and ``*args``/``**kwargs`` excluded)."""
    sig = inspect.signature(_target(factory))
    return {
        name: p
        for name, p in sig.parameters.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(_target(factory))
    except Exception:  # noqa: BLE001 - unresolvable annotations fall back to "str"
        return {}


def defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    return {n: p.default for n, p in signature_params(factory).items() if p.default is not p.empty}


def describe_type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def parse_value(text: str, annotation: Any) -> Any:
    """Parse a command-line string as ``annotation``; raise ValueError when it does not fit."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if type(None) in options and text.strip().lower() in ("none", "null", ""):
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return parse_value(text, option)
            except ValueError:
                continue
        raise ValueError(text)
    if origin is Literal:
        for choice in typing.get_args(annotation):
            if str(choice) == text:
                return choice
        raise ValueError(text)
    if annotation is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(text)
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    if annotation is Path:
        return Path(text)
    return text


def _check_type(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, a) for a in typing.get_args(annotation))
    if origin is Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def resolve(owner: str, factory: Callable[..., Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """All keyword parameters of ``factory`` with ``overrides`` applied and checked.

    ``overrides`` values may be strings from the command line (parsed by annotation) or Python values
    (type-checked). ``owner`` names the plugin in error messages, e.g. ``"defense 'dualpure'"``.
    """
    params = signature_params(factory)
    hints = _hints(factory)
    resolved: dict[str, Any] = {}
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        valid = ", ".join(params) or "none"
        raise BadParameter(f"{owner} has no parameter {unknown[0]!r}; valid: {valid}")
    for name, p in params.items():
        annotation = hints.get(name, str if p.annotation is p.empty else p.annotation)
        if name in overrides:
            value = overrides[name]
            if isinstance(value, str) and annotation is not str:
                try:
                    value = parse_value(value, annotation)
                except ValueError:
                    raise BadParameter(
                        f"{owner}: {name}={value!r} is not valid; expected {describe_type(annotation)}"
                    ) from None
            elif not _check_type(value, annotation):
                raise BadParameter(
                    f"{owner}: {name}={value!r} is not valid; expected {describe_type(annotation)}"
                )
        elif p.default is not p.empty:
            value = p.default
        else:
            raise BadParameter(f"{owner} needs parameter {name!r} ({describe_type(annotation)}); pass -o {name}=...")
        resolved[name] = value
    return resolved


def jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as plain JSON values (paths become strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in params.items()}


def parse_assignments(items: list[str]) -> list[tuple[str, str]]:
    """Split ``-o key=value`` items; the key may be qualified (``defense.t_w``)."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadParameter(f"-o {item!r} is not key=value; e.g. -o t_w=3 or -o defense.t_w=3")
        pairs.append((key.strip(), value.strip()))
    return pairs
