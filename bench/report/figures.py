"""PNG figures for ``bench report``, laid out like the DualPure paper's Figs. 2 and 3.

``lines`` artefacts (Fig. 2(a), 2(b), 3(a)): one line per row over the columns, the mean with a band of the
tables' 95 % interval over clips and seeds; ``bars`` artefacts (Fig. 3(b)): grouped bars with that interval,
one group per row. Missing points are left out (a line
breaks there) and the legend says how many are missing. Drawn with matplotlib's Agg canvas (no pyplot
state, no display), fixed size and dpi and no PNG metadata, so the same records give the same bytes.
"""

from __future__ import annotations

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.report.artefacts import Artefact
from bench.report.format import figure_bytes
from bench.report.layout import series


def _x(columns: list[str]) -> tuple[list[float], bool]:
    """Numeric x positions when every column label is a number (steps, t_w), else 0..n-1."""
    try:
        return [float(c) for c in columns], True
    except ValueError:
        return [float(i) for i in range(len(columns))], False


def _plotted(art: Artefact) -> tuple[list[str], dict[str, list[tuple[str, float, float, float] | None]]]:
    """The grid's declared columns (its figure's x axis or bar set) and each row's points on them; columns
    only the records add (clean accuracies) stay in the tables."""
    columns = art.grid.columns or art.columns()
    keep = [i for i, c in enumerate(art.columns()) if c in columns]
    return columns, {row: [points[i] for i in keep] for row, points in series(art).items()}


def _lines(fig: Figure, art: Artefact) -> None:
    ax = fig.add_subplot(1, 1, 1)
    columns, data = _plotted(art)
    xs, _ = _x(columns)
    for row, points in data.items():
        ys = [math.nan if p is None else p[1] for p in points]
        lo = [math.nan if p is None else p[2] for p in points]
        hi = [math.nan if p is None else p[3] for p in points]
        missing = sum(p is None for p in points)
        label = row if not missing else f"{row} ({missing} missing)"
        (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=label)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xticks(xs, columns)  # the grid's own labels (step counts, t_w), not matplotlib's 0.2 steps
    ax.set_xlabel(art.grid.x_label)
    ax.set_ylabel(art.grid.y_label)
    ax.set_ylim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _bars(fig: Figure, art: Artefact) -> None:
    ax = fig.add_subplot(1, 1, 1)
    columns, data = _plotted(art)
    rows = list(data)
    width = 0.8 / max(1, len(columns))
    for j, column in enumerate(columns):
        xs, ys, errs = [], [], []
        for i, row in enumerate(rows):
            point = data[row][j]
            if point is not None:
                xs.append(i + (j - (len(columns) - 1) / 2) * width)
                ys.append(point[1])
                errs.append((point[1] - point[2], point[3] - point[1]))
        missing = len(rows) - len(xs)
        label = column if not missing else f"{column} ({missing} missing)"
        ax.bar(xs, ys, width, yerr=[[e[0] for e in errs], [e[1] for e in errs]] if errs else None, capsize=2,
               label=label)
    ax.set_xticks(range(len(rows)), rows)
    ax.set_ylabel(art.grid.y_label)
    ax.set_ylim(0, 105)
    ax.grid(True, axis="y", alpha=0.3)
    # above the axes: inside, it hides the bars (and zero-height bars, e.g. an undefended victim's, show
    # only as their legend entry)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(columns), frameon=False)


def figure_png(art: Artefact) -> bytes | None:
    """The artefact's figure as PNG bytes (headline protocol), or None for table artefacts."""
    if art.grid.layout not in ("lines", "bars"):
        return None
    fig = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(fig)
    (_lines if art.grid.layout == "lines" else _bars)(fig, art)
    fig.suptitle(art.grid.title, fontsize=9)
    fig.tight_layout()
    return figure_bytes(fig)
