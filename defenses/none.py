"""No defense: the bare victim."""

from __future__ import annotations

from bench.registry import register
from defenses.base import Defense


@register("defense", "none")
class NoDefense(Defense):
    """No purification: the undefended victim (the paper's None row)."""
