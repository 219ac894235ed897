"""Formatting for ``bench report``: mean ± std cells, Markdown and LaTeX tables, deterministic figures.

Everything here is a pure function of its input: no dates, no randomness, fixed ordering, so the same
records always give byte-identical files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from bench.stats import mean_std

MISSING = "missing"
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
          "$": r"\$", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "ε": r"$\varepsilon$",
          "∞": r"$\infty$", "±": r"$\pm$", "×": r"$\times$", "→": r"$\to$", "≤": r"$\le$", "≥": r"$\ge$",
          "≈": r"$\approx$", "µ": r"$\mu$", "—": "---", "–": "--", "·": r"$\cdot$", "…": r"\dots{}", "∇": r"$\nabla$"}


def fmt_cell(values: Sequence[float], expected: int | None = None, digits: int = 1, empty: str = MISSING) -> str:
    """``mean ± std`` over seeds (one seed: the value alone); ``empty`` for none; ``(k/N seeds)`` when
    fewer seeds than the profile asks were found."""
    if not values:
        return empty
    mean, std = mean_std(values)
    text = f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"
    if expected is not None and len(values) < expected:
        text += f" ({len(values)}/{expected} seeds)"
    return text


def fmt_duration(mean: float, std: float | None = None) -> str:
    """``mean ± std`` in the unit that keeps three significant digits readable: s, ms or µs (a GPU's batched
    purifier takes microseconds per clip, which ``0.0000 s`` hides)."""
    scale, unit = next(((f, u) for f, u in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")) if abs(mean) >= f),
                       (1e-6, "µs"))
    text = f"{mean / scale:.3g}"
    return (text if std is None else f"{text} ± {std / scale:.2g}") + f" {unit}"


def csv_cell(text: str) -> str:
    """A CSV field, quoted when it holds a comma, a quote or a newline."""
    return f'"{text}"' if any(ch in text for ch in ',"\n') else text


def fmt_paper(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table (``|`` in cells escaped)."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def latex_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]], label: str) -> str:
    """A booktabs table: first column left-aligned, the others centred."""
    spec = "l" + "c" * (len(header) - 1)
    body = [" & ".join(latex_escape(c) for c in r) + r" \\" for r in rows]
    return "\n".join([r"\begin{table}[t]", r"\centering", r"\small", f"\\caption{{{latex_escape(caption)}}}",
                      f"\\label{{{label}}}", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
                      " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}", r"\end{table}", ""])


def figure_bytes(fig: object) -> bytes:
    """A matplotlib figure as PNG bytes that depend only on its content: Agg, fixed dpi, no metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})  # type: ignore[attr-defined]
    return buffer.getvalue()
