"""Drawing shared by the pictures: Agg figures without pyplot, heatmaps, PNG output with a known
size, and the shaded characters of the terminal renderings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
CMAP = "viridis"
# Terminal shading, from nothing to the row's strongest weight.
SHADES = " ░▒▓█"
MAX_INCHES = 40.0  # no side of a picture grows past this (4,000 px at DPI)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure on its own Agg canvas: no pyplot, no global backend, safe in any thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = (min(width_in, MAX_INCHES), min(height_in, MAX_INCHES))
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def title(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to its width (about 13 characters per inch at 9 pt)."""
    import textwrap

    width = max(int(figure.get_size_inches()[0] * 13), 20)
    figure.suptitle(textwrap.fill(text, width), fontsize=9)


def pixel_size(figure: Figure) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that :func:`save_png` writes."""
    width, height = figure.get_size_inches() * figure.dpi
    return int(round(width)), int(round(height))


def save_png(figure: Figure, path: Path, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Write the figure as PNG (``size`` = (width, height) pixels, default its own size)."""
    if size is not None:
        figure.set_size_inches(size[0] / figure.dpi, size[1] / figure.dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=figure.dpi)
    return pixel_size(figure)


def heatmap(
    axes: Axes,
    weights: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    xlabel: str,
    ylabel: str,
) -> None:
    """A (rows, cols) matrix of weights, one labelled tick per row and column; the colours span
    0 to the strongest weight (the colour bar gives the values), so spread-out attention still
    shows its shape."""
    strongest = float(weights.max()) if weights.size else 0.0
    image = axes.imshow(weights, cmap=CMAP, vmin=0.0, vmax=max(strongest, 1e-6), aspect="auto")
    axes.set_xticks(range(len(cols)), labels=list(cols), rotation=60, ha="right")
    axes.set_yticks(range(len(rows)), labels=list(rows))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.tick_params(length=0)
    axes.figure.colorbar(image, ax=axes, shrink=0.8, label="attention weight")


def heatmap_inches(rows: int, cols: int, longest_label: int) -> tuple[float, float]:
    """A size that keeps a cell about 0.35 in and leaves room for the tick labels."""
    label = 0.08 * longest_label + 0.6
    return 0.35 * cols + label + 1.6, 0.35 * rows + label + 0.8


def shade(weight: float, strongest: float) -> str:
    if strongest <= 0 or weight <= 0:
        return SHADES[0]
    level = int(np.ceil(weight / strongest * (len(SHADES) - 1)))
    return SHADES[min(max(level, 1), len(SHADES) - 1)]


def top(weights: np.ndarray, labels: Sequence[str], k: int) -> str:
    """The k strongest entries of one row: 'label 0.81, label 0.10'."""
    order = np.argsort(-weights, kind="stable")[:k]
    return ", ".join(f"{labels[i]} {weights[i]:.2f}" for i in order if weights[i] > 0)


def shaded_matrix(
    weights: np.ndarray, rows: Sequence[str], cols: Sequence[str], k: int
) -> list[str]:
    """A character heatmap: one line per row (its label, one shade per column, then its k
    strongest columns), under a key numbering the columns. Shades are scaled to the matrix's
    strongest weight, so rows compare with each other as in the picture."""
    width = max((len(r) for r in rows), default=0)
    strongest = float(weights.max()) if weights.size else 0.0
    key = "  ".join(f"{j}:{c}" for j, c in enumerate(cols))
    digits = "".join(str(j % 10) for j in range(len(cols)))
    lines = [f"columns  {key}", f"{'':<{width}} |{digits}| shades up to {strongest:.2f}"]
    for label, row in zip(rows, weights, strict=True):
        cells = "".join(shade(float(w), strongest) for w in row)
        lines.append(f"{label:<{width}} |{cells}| {top(row, cols, k)}")
    return lines
