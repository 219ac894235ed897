"""Shared CLI helpers: one error format, comma-separated integer options.

Every bad input, whether Typer/Click rejects it (a non-integer ``--steps``, an unknown flag, a missing
argument) or the harness does (an unknown defense, a bad ``-o`` value), is one line on stderr,
``error: <what is wrong>; <the fix>``, with exit status 2 (a usage error's, as Click gives it) and no box or
traceback. ``SCRBENCH_DEBUG=1`` shows tracebacks (and Typer's own error box) instead.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from bench.errors import BadParameter, BenchError

F = TypeVar("F", bound=Callable[..., Any])


def debugging() -> bool:
    return bool(os.environ.get("SCRBENCH_DEBUG"))


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (one line) on stderr and exit with ``code``."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


def click_message(exc: typer.TyperException) -> str:
    """A Typer (vendored Click) error as our one line: its message, lower-cased like ours, and where the help
    is."""
    message = exc.format_message().strip().rstrip(".")
    if re.match(r"[A-Z][a-z]", message):
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    return f"{message}; see `{ctx.command_path} --help`" if ctx is not None else message


class OneLineErrors(TyperGroup):
    """The ``bench`` command group: turns every Click/Typer usage error and every ``BenchError`` raised
    while parsing or running any subcommand into one ``error:`` line (Click would print a box)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _one_line():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _one_line():
            return super().invoke(ctx)


@contextmanager
def _one_line() -> Iterator[None]:
    try:
        yield
    except typer.TyperException as exc:  # Click's exceptions, as Typer vendors them
        if debugging() or type(exc).__name__ == "NoArgsIsHelpError":  # ``bench`` alone: the help is printed
            raise
        fail(click_message(exc), exc.exit_code)
    except BenchError as exc:
        if debugging():
            raise
        fail(str(exc))


def one_line_errors(fn: F) -> F:
    """Print a ``BenchError`` as ``error: ...`` and exit 2 (``SCRBENCH_DEBUG=1`` shows the traceback); an
    interrupt says that finished cells are kept."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BenchError as exc:
            if debugging():
                raise
            fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("interrupted: finished cells and attacked batches are saved; run the same command again "
                       "to resume", err=True)
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
