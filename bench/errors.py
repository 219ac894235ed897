"""Errors that the CLI prints as one line (problem and fix) instead of a traceback."""

from __future__ import annotations


class BenchError(Exception):
    """A user-facing error: the message names the problem and how to fix it."""


class UnknownPlugin(BenchError):
    pass


class PluginLoadError(BenchError):
    pass


class BadParameter(BenchError):
    pass


class DataError(BenchError):
    pass


class CheckpointError(BenchError):
    pass


class BudgetViolation(BenchError):
    """An adversarial example left its ε-ball or the valid sample range."""
