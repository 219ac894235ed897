"""The training loops' one wall clock: elapsed time, an overall ETA, and the ``--max-minutes`` budget.

Every ``bench train`` reads time through :data:`now` (a module attribute, so a test can replace it with a
fake clock and stop a run deterministically, without sleeping). The ETA is the mean time per unit (epoch or
step) run so far in this invocation times the units that remain.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bench.errors import BadParameter

now: Callable[[], float] = time.perf_counter


def check_max_minutes(max_minutes: float | None) -> None:
    """Refuse a budget that could not let one step run (≤ 0, or NaN) in one line, before any data is loaded."""
    if max_minutes is not None and not max_minutes > 0:  # `not >` also refuses NaN
        raise BadParameter(f"--max-minutes {max_minutes:g}: must be > 0 (minutes of training before stopping at the "
                           "best checkpoint so far); drop it to train to the end")


def duration(seconds: float) -> str:
    """``seconds`` as a short wall time: ``45s``, ``3m45s``, ``1h02m``."""
    if not math.isfinite(seconds):
        return "?"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class RunClock:
    """Wall time of one training run of ``total`` units (epochs or steps), ``done`` of them already behind it
    (a resumed run) taking ``seconds_before``.

    The budget (``max_minutes``) is this invocation's wall time, not the resumed total: it bounds how long the
    user waits for this command, and a resumed run gets the same budget again.
    """

    def __init__(self, total: int, done: int = 0, seconds_before: float = 0.0,
                 max_minutes: float | None = None) -> None:
        check_max_minutes(max_minutes)
        self.total, self.first = total, done
        self.seconds_before = seconds_before
        self.max_minutes = max_minutes
        self.started = now()

    def session(self) -> float:
        """Seconds since this invocation's training loop started."""
        return now() - self.started

    def elapsed(self) -> float:
        """Seconds of training in all, the resumed runs' included (what the card records)."""
        return self.seconds_before + self.session()

    def out_of_time(self) -> bool:
        """Whether this invocation has run past ``max_minutes``."""
        return self.max_minutes is not None and self.session() > 60.0 * self.max_minutes

    def status(self, done: float) -> str:
        """``elapsed 3m45s, ETA 33m45s`` after ``done`` units (a fraction counts a partial epoch)."""
        session = self.session()  # one reading, so elapsed and ETA agree
        ran = done - self.first
        eta = session / ran * max(0.0, self.total - done) if ran > 0 else math.inf
        return f"elapsed {duration(self.seconds_before + session)}, ETA {duration(eta)}"

    def stop_reason(self, where: str) -> str:
        """Why the run stopped, for the log and the card."""
        return (f"--max-minutes {self.max_minutes:g} reached: {duration(self.session())} of training "
                f"(limit {duration(60.0 * (self.max_minutes or 0.0))}) {where}")
