"""Two artefact cells compared over the same clips and seeds: the effect and its verdict for a paper's finding.

A finding says one cell's robust accuracy is above another's (DualPure above DiffNoise, AudioPure under the
adjoint above itself under exact gradients, ...). Both cells come from one artefact, so from one subset of
clips; their difference is taken per clip and seed and its 95 % interval is the paired bootstrap over clips
(``bench.stats.paired_bootstrap``), which removes the clip-to-clip spread both cells share. The verdict
(``bench.stats.verdict``): *shown* when the interval is above zero, *contradicted* when below, *not shown* when
it contains zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.protocols import HEADLINE
from bench.stats import mean_std, paired_bootstrap, verdict

if TYPE_CHECKING:  # the papers' findings import this module; the artefact is only a type here
    from bench.report.artefacts import Artefact


@dataclass(frozen=True)
class Effect:
    """``higher − lower`` in percentage points (positive: as the finding claims), over ``clips × seeds``."""

    higher: str
    lower: str
    higher_mean: float
    lower_mean: float
    mean: float
    low: float
    high: float
    clips: int
    seeds: int

    @property
    def verdict(self) -> str:
        return verdict(self.low, self.high)

    def text(self) -> str:
        return (f"{self.higher} − {self.lower} = {self.mean:+.1f} points [95 % CI {self.low:+.1f}, {self.high:+.1f}] "
                f"({self.higher} {self.higher_mean:.1f}, {self.lower} {self.lower_mean:.1f}; {self.clips} clips × "
                f"{self.seeds} seeds, paired bootstrap)")


def paired_effect(art: Artefact | None, higher: tuple[str, str], lower: tuple[str, str], protocol: str = HEADLINE,
                  names: tuple[str, str] | None = None) -> Effect | str:
    """The effect ``cell higher − cell lower`` (each ``(row, column)`` of ``art``), or a line saying why it cannot
    be computed: a cell with fewer seeds than the profile asks, without per-clip scores, or on other clips."""
    if art is None:
        return "not enough records: the artefact has none"
    cells = []
    for row, column in (higher, lower):
        values = sorted(art.get(row, column, protocol), key=lambda v: v.seed)
        if len(values) < max(art.seeds, 1):
            return f"not enough records: {row} / {column} has {len(values)} of {art.seeds} seeds"
        if any(v.clips is None for v in values):
            return f"not enough records: {row} / {column} holds no per-clip scores (a migrated record)"
        cells.append(values)
    a, b = cells
    if [v.seed for v in a] != [v.seed for v in b] or [v.subset for v in a] != [v.subset for v in b]:
        return f"not paired: {higher[0]} and {lower[0]} were measured on other clips or seeds"
    mean, low, high = paired_bootstrap([v.clips for v in a], [v.clips for v in b])
    label = names or (higher[0], lower[0])
    return Effect(label[0], label[1], mean_std([v.value for v in a])[0], mean_std([v.value for v in b])[0], mean,
                  low, high, len(a[0].clips or ()), len(a))


def effect_line(effect: Effect | str) -> str:
    """``verdict: effect`` for one comparison, or the reason none was made."""
    return effect if isinstance(effect, str) else f"{effect.verdict}: {effect.text()}"


def joint(effects: list[Effect | str]) -> str:
    """The verdict of a finding that needs every comparison as claimed: *contradicted* when one is, *shown*
    when all are, else *not shown*; the effects follow, one per clause."""
    reasons = [e for e in effects if isinstance(e, str)]
    if reasons:
        return reasons[0]
    verdicts = [e.verdict for e in effects if isinstance(e, Effect)]
    overall = ("contradicted" if "contradicted" in verdicts else "shown" if all(v == "shown" for v in verdicts)
               else "not shown")
    return f"{overall}: " + "; ".join(e.text() for e in effects if isinstance(e, Effect))
