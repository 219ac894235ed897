"""Shared CLI helpers: one-line errors instead of tracebacks, comma-separated integer options."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from bench.errors import BadParameter, BenchError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(fn: F) -> F:
    """Print a ``BenchError`` as ``error: ...`` and exit 2 (``SCRBENCH_DEBUG=1`` shows the traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BenchError as exc:
            if os.environ.get("SCRBENCH_DEBUG"):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: finished cells are saved; run the same command again to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def int_list(text: str | None, flag: str, what: str, example: str) -> list[int]:
    """``"10,30,50"`` → [10, 30, 50] (empty or None → []); anything else is one clear line naming ``flag``."""
    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadParameter(f"{flag} {text!r}: give {what} separated by commas, e.g. {example}") from None
